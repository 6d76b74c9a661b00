/**
 * One process per data directory: two embedded nodes appending to the same files would interleave
 * records. A `LOCK` file holds the owner's pid; a lock whose pid is dead (the node was `kill -9`ed) is
 * taken over, so a restart after a crash needs no manual cleanup.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data directory's lock; resolves with its release function. Throws if a live process holds it. */
export async function acquireDataDirLock(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx');
      await fh.write(String(process.pid));
      await fh.close();
      return async () => {
        await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new Error(`data directory ${dir} is in use by process ${pid}`);
      }
      await unlink(path).catch(() => undefined);
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}
