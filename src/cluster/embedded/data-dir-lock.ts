/**
 * One process per data directory: two embedded nodes appending to the same files would interleave
 * records. A `LOCK` file names its holder (`{pid, host, pidns, nonce}`: `pidns` is the holder's PID
 * namespace, `/proc/self/ns/pid`) and the holder touches it every `renewMs`.
 *
 * A lock from this host and PID namespace is judged by its pid: a dead pid (the node was `kill -9`ed), or
 * this process's own pid (a previous incarnation: a container restarted as PID 1 again), is taken over at
 * once, so a restart after a crash needs no manual cleanup. A pid alone says nothing across PID
 * namespaces (two containers on one volume are both PID 1, and each sees the other's pid as dead): a
 * lock from another host or namespace is taken over only once it has not been renewed for `staleMs`,
 * waited for at start-up (a container restarted after a crash starts that much later).
 */

import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's PID namespace (`pid:[4026531836]`), or '' where there is no such thing. */
function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

interface Holder {
  pid: number;
  host: string;
  pidns: string;
  nonce: string;
}

export interface DataDirLockOptions {
  /** A lock from another host or PID namespace not renewed for this long is taken over (ms). */
  staleMs?: number;
  /** How often the holder renews its lock (ms). */
  renewMs?: number;
}

/** Takes the data directory's lock; resolves with its release function. Throws if a live process holds it. */
export async function acquireDataDirLock(
  dir: string,
  opts: DataDirLockOptions = {},
): Promise<() => Promise<void>> {
  const staleMs = opts.staleMs ?? 10_000;
  const renewMs = opts.renewMs ?? 2_000;
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  const me: Holder = { pid: process.pid, host: hostname(), pidns: pidNamespace(), nonce: randomUUID() };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(JSON.stringify(me));
        await fh.sync();
      } catch (e) {
        // A full disk at start-up: say which file, and leave no empty lock behind.
        await fh.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw new Error(`could not write the data directory's lock ${path}: ${(e as Error).message}`);
      }
      await fh.close();
      const timer = setInterval(() => {
        const now = new Date();
        utimes(path, now, now).catch(() => undefined);
      }, renewMs);
      timer.unref();
      return async () => {
        clearInterval(timer);
        // Only our own lock: one taken over meanwhile is its new holder's.
        if ((await readHolder(path))?.nonce === me.nonce) await unlink(path).catch(() => undefined);
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        if ((e as Error).message.startsWith('could not write')) throw e;
        throw new Error(`could not create the data directory's lock ${path}: ${(e as Error).message}`);
      }
    }
    const held = await readHolder(path);
    if (held && held.host === me.host && held.pidns === me.pidns) {
      if (held.pid !== process.pid && alive(held.pid))
        throw new Error(`data directory ${dir} is in use by process ${held.pid}`);
    } else if (held) {
      // Another host or PID namespace: its pid cannot be checked from here; only its renewals count.
      for (;;) {
        const seen = await lockTime(path);
        if (seen === null || Date.now() - seen > staleMs) break;
        await new Promise((r) => setTimeout(r, Math.min(renewMs, staleMs - (Date.now() - seen) + 10)));
        const now = await lockTime(path);
        if (now !== null && now !== seen) {
          throw new Error(
            `data directory ${dir} is in use by process ${held.pid} on ${held.host} (${held.pidns || 'another PID namespace'}): its lock is being renewed; a lock is taken over only after ${staleMs} ms without renewal`,
          );
        }
      }
    }
    // Stale: removed, and created afresh above. A removal that fails (a read-only file system) says so.
    await unlink(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT')
        throw new Error(`could not remove the stale lock ${path} of data directory ${dir}: ${e.message}`);
    });
  }
  throw new Error(`could not lock data directory ${dir}`);
}

/** The lock's holder: the JSON form, or a bare pid (written before the holder was named: this namespace). */
async function readHolder(path: string): Promise<Holder | null> {
  const text = await readFile(path, 'utf8').catch(() => '');
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h === 'object' && h !== null && typeof h.pid === 'number')
      return {
        pid: h.pid,
        host: String(h.host ?? ''),
        pidns: String(h.pidns ?? ''),
        nonce: String(h.nonce ?? ''),
      };
  } catch {
    // not JSON
  }
  const pid = Number.parseInt(text, 10);
  if (Number.isInteger(pid) && pid > 0) return { pid, host: hostname(), pidns: pidNamespace(), nonce: '' };
  return null;
}

/** When the lock was written or last renewed (ms since the epoch; null: gone). */
async function lockTime(path: string): Promise<number | null> {
  const s = await stat(path).catch(() => null);
  return s ? s.mtimeMs : null;
}
