/**
 * The embedded node's event history across a graceful restart: a stop snapshots every partition and so
 * trims its command log, from which the next start could re-derive nothing, so the stop saves the history
 * (`EventHistory.save`) to one file in the data directory and the next start reads it back once, then
 * removes it (from then on the history lives in memory, and a crash restart refills it from the log
 * tails instead). JSON lines: a header, then one line per tenant (`SavedTenantHistory`). Whatever does
 * not read back (a torn or foreign file) is ignored with a warning: the history only reaches less far.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SavedTenantHistory } from './event-history.js';

const HEADER = { format: 'switchboard-event-history', version: 1 };

/** Writes the tenants' histories to `path` (a temp file, fsynced, renamed over it). Returns the bytes. */
export async function saveEventHistory(
  path: string,
  tenants: readonly SavedTenantHistory[],
): Promise<number> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  let bytes = 0;
  try {
    let chunk: string[] = [JSON.stringify(HEADER)];
    let size = 0;
    const flush = async () => {
      const buf = Buffer.from(`${chunk.join('\n')}\n`, 'utf8');
      chunk = [];
      size = 0;
      await fh.write(buf);
      bytes += buf.length;
    };
    for (const t of tenants) {
      if (t.entries.length === 0) continue;
      const line = JSON.stringify(t);
      chunk.push(line);
      size += line.length;
      if (size >= 1 << 20) await flush();
    }
    await flush();
    await fh.datasync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await fh.close();
  await rename(tmp, path);
  const d = await open(dirname(path), 'r');
  try {
    await d.sync();
  } catch {
    // Directory fsync is unsupported on some file systems.
  } finally {
    await d.close();
  }
  return bytes;
}

/**
 * Reads what `saveEventHistory` wrote, by tenant, and removes the file. None (no file): an empty map;
 * an unreadable one: what read back before the damage (`damaged` says why).
 */
export async function takeEventHistory(
  path: string,
): Promise<{ tenants: Map<string, SavedTenantHistory>; damaged: string | null }> {
  const tenants = new Map<string, SavedTenantHistory>();
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { tenants, damaged: null };
    throw e;
  }
  await unlink(path).catch(() => undefined);
  const lines = text.split('\n');
  let damaged: string | null = null;
  try {
    const head = JSON.parse(lines[0] ?? '') as typeof HEADER;
    if (head.format !== HEADER.format || head.version !== HEADER.version)
      return { tenants, damaged: `not an event history file of this version (${lines[0]?.slice(0, 80)})` };
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line === '') continue;
      const t = JSON.parse(line) as SavedTenantHistory;
      if (typeof t.tenant !== 'string' || !Array.isArray(t.entries) || !Array.isArray(t.after))
        throw new Error(`line ${i + 1} is not a tenant's history`);
      tenants.set(t.tenant, t);
    }
  } catch (e) {
    damaged = (e as Error).message;
  }
  return { tenants, damaged };
}
