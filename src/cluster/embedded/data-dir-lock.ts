/**
 * One process per data directory: two embedded nodes appending to the same files would interleave
 * records. A `LOCK` file names its holder (`{pid, host, pidns, nonce}`: `pidns` is the holder's PID
 * namespace, `/proc/self/ns/pid`) and the holder touches it every `renewMs`.
 *
 * A lock from this host and PID namespace is judged by its pid: a dead pid (the node was `kill -9`ed), or
 * this process's own pid with a nonce this process does not hold (a previous incarnation: a container
 * restarted as PID 1 again), is taken over at once, so a restart after a crash needs no manual cleanup. A
 * pid alone says nothing across PID namespaces (two containers on one volume are both PID 1, and each
 * sees the other's pid as dead): a lock from another host or namespace is taken over only once it has not
 * been renewed for `staleMs`, waited for at start-up (a container restarted after a crash starts that
 * much later).
 *
 * Acquisition is atomic; so is a takeover. Two nodes started at the same instant, or both finding the
 * same stale lock, end with exactly one holder:
 *
 * | step                         | how                                                  | two at once                  |
 * |------------------------------|------------------------------------------------------|------------------------------|
 * | take a free lock             | holder written to `LOCK.<nonce>.tmp`, synced, then   | `link(2)` fails `EEXIST` for |
 * |                              | `link(2)`ed to `LOCK`: the name appears whole        | all but one; never an empty  |
 * |                              |                                                      | `LOCK` to misjudge as stale  |
 * | remove a stale lock `N`      | claim `LOCK.takeover.<N>.<k>` (`link(2)` again); the | one claimant per `N`; the    |
 * |                              | claimant re-reads `LOCK` and unlinks it only if it   | others wait, then find the   |
 * |                              | still is `N`, then tries to take the free lock       | new holder alive             |
 * | a claimant that died         | its claim is judged like a lock (pid, or `staleMs`)  | the next claim `k + 1`, again|
 * |                              | and left; the next claimant takes `k + 1`            | by `link(2)`: one wins       |
 *
 * A file system without hard links (FAT, some FUSE and SMB mounts: link(2) fails EPERM/ENOTSUP) gets an
 * O_EXCL create and then the write instead: still one winner, and a lock or claim found empty (being
 * written) is judged by its mtime like a lock from elsewhere, so never taken for stale while fresh.
 *
 * Without the claim, two nodes that both judged `N` stale could each unlink `LOCK` (the second removing
 * the lock the first had just taken) and each take it. A nonce never comes back, so a claim made late,
 * after `N` is gone, finds another lock and removes nothing.
 */

import { randomUUID } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { type FileHandle, link, mkdir, open, readdir, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { SwitchboardError } from '../../errors/catalogue.js';

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

/** What a lock file holds: its holder (null: unreadable), an identity that never repeats, its mtime. */
interface Seen {
  holder: Holder | null;
  /** The holder's nonce; for a lock without one (an older format, or garbage), its inode number. */
  ident: string;
  mtimeMs: number;
  /** Not a regular file (a directory in its place): not a lock at all. */
  notFile: boolean;
}

/**
 * Nonces of the locks this process holds or is acquiring: two acquisitions in one process share a pid,
 * so the pid alone cannot tell a live one of them from a previous incarnation's lock.
 */
const mine = new Set<string>();

export interface DataDirLockOptions {
  /** A lock from another host or PID namespace not renewed for this long is taken over (ms). */
  staleMs?: number;
  /** How often the holder renews its lock (ms). */
  renewMs?: number;
  /** Test hook: link(2) (a file system without hard links fails it with EPERM or ENOTSUP). */
  link?: (existing: string, name: string) => Promise<void>;
}

/**
 * What the files of a data directory are written through: every write of its command log and snapshots
 * asks first, so nothing is written once its lock is known lost, nor before a lock not confirmed for a
 * while (the process was stopped: `SIGSTOP`, a frozen container, a suspended VM) is confirmed again.
 */
export interface WriteGate {
  /** True when a write may go ahead now: the lock is held and was confirmed within `staleMs / 2`. */
  open(): boolean;
  /**
   * Resolves once the lock is confirmed this holder's (at once when `open()`); rejects with
   * `SB_ERR_UNAVAILABLE` when it is lost or cannot be checked.
   */
  confirm(): Promise<void>;
}

/** The lock found lost: who holds `LOCK` now (null: nobody, or unreadable) and how it was found. */
export interface LockLoss {
  dir: string;
  holder: { pid: number; host: string; pidns: string; nonce: string } | null;
  reason: string;
}

/** A held lock: call it to release it; a `WriteGate` for the directory's writes; told when it is lost. */
export type DataDirLock = (() => Promise<void>) &
  WriteGate & {
    /** Set once the lock was found taken over (or removed): this process must write nothing more. */
    readonly lost: LockLoss | null;
    /** Calls `listener` once when the lock is found lost (at once if it already was). */
    onLost(listener: (loss: LockLoss) => void): void;
  };

/**
 * Takes the data directory's lock; resolves with it (call it to release it). Throws if a live process
 * holds it.
 *
 * While held, every `renewMs` the holder checks that `LOCK` still is its own file (same inode as the
 * handle it keeps open on it) and only then touches it, through that handle: a lock taken over by
 * another node is never touched. A `LOCK` that is another file, or gone, is lost: `lost` is set, the
 * gate refuses every write and `onLost` listeners are told (the node fences itself and exits). A holder
 * that went more than `staleMs / 2` without confirming (it was stopped, or its event loop held) writes
 * nothing until a check confirms it again: after `SIGCONT` the I/O callbacks of requests run before an
 * overdue timer, and their appends wait for that check. After such a gap the check looks twice, a
 * moment apart, so a takeover that had judged the lock stale just before the touch is seen through.
 */
export async function acquireDataDirLock(dir: string, opts: DataDirLockOptions = {}): Promise<DataDirLock> {
  const staleMs = opts.staleMs ?? 10_000;
  const renewMs = opts.renewMs ?? 2_000;
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'LOCK');
  const me: Holder = { pid: process.pid, host: hostname(), pidns: pidNamespace(), nonce: randomUUID() };
  const tmp = `${path}.${me.nonce}.tmp`;
  await writeHolder(tmp, path, me);
  // Once link(2) failed for want of hard links, this acquisition's later creations go straight to O_EXCL.
  const fs = { link: opts.link ?? link, noLinks: false };
  const make = (name: string) => createWhole(tmp, name, JSON.stringify(me), fs);
  mine.add(me.nonce);
  let held = false;
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (await make(path)) {
        held = true;
        await unlink(tmp).catch(() => undefined);
        await sweep(dir, Math.max(60_000, 3 * staleMs));
        return await holding(dir, path, me, staleMs, renewMs);
      }
      const seen = await see(path);
      if (seen === null) continue; // released meanwhile: try again
      await judge(dir, path, seen, me, staleMs, renewMs);
      // Stale: removed by the one claimant of its takeover (us or another), then taken afresh above.
      if ((await takeOver(path, make, seen, me, staleMs)) === 'busy')
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  } finally {
    await unlink(tmp).catch(() => undefined);
    if (!held) mine.delete(me.nonce);
  }
  throw new Error(`could not lock data directory ${dir}`);
}

/** The lock just taken: its handle kept open (its inode identifies it), renewed and checked (see above). */
async function holding(
  dir: string,
  path: string,
  me: Holder,
  staleMs: number,
  renewMs: number,
): Promise<DataDirLock> {
  const fh = await open(path, 'r');
  const { ino, dev } = await fh.stat();
  const suspectMs = Math.max(1, Math.floor(staleMs / 2));
  // The second look after a gap: long enough for a takeover under way (claim, re-read, unlink, link: a
  // few ms) to finish, short of the window a confirmation opens.
  const settleMs = Math.max(1, Math.min(1000, renewMs, Math.floor(suspectMs / 2)));
  let confirmedAt = Date.now();
  let lost: LockLoss | null = null;
  let checking: Promise<void> | null = null;
  let released = false;
  const listeners: ((loss: LockLoss) => void)[] = [];
  const lostError = (l: LockLoss) =>
    new SwitchboardError(
      'SB_ERR_UNAVAILABLE',
      `this node lost the lock of data directory ${dir} (${l.reason}${l.holder ? `: now held by process ${l.holder.pid} on ${l.holder.host}` : ''}); it writes nothing more: retry on the node that holds it`,
    );
  const lose = (holder: Holder | null, reason: string) => {
    if (lost) return;
    lost = { dir, holder, reason };
    clearInterval(timer);
    for (const l of listeners.splice(0)) {
      try {
        l(lost);
      } catch {
        // a listener's failure does not stop the others
      }
    }
  };
  /** Whether `LOCK` still is the file this process created (else: lost, with whoever holds it now). */
  const stillMine = async (): Promise<boolean> => {
    const s = await stat(path).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (s !== null && s.ino === ino && s.dev === dev) return true;
    const now = s === null ? null : await see(path).catch(() => null);
    lose(now?.holder ?? null, s === null ? 'its LOCK file is gone' : 'its LOCK file was taken over');
    return false;
  };
  const check = async (): Promise<void> => {
    const gap = Date.now() - confirmedAt >= suspectMs;
    if (!(await stillMine())) return;
    const at = new Date();
    // Through our own handle: our inode, never a lock another node put in its place meanwhile.
    await fh.utimes(at, at);
    if (gap) {
      await new Promise((r) => setTimeout(r, settleMs));
      if (!(await stillMine())) return;
    }
    if (!lost) confirmedAt = Math.max(confirmedAt, at.getTime());
  };
  const checkOnce = (): Promise<void> => {
    checking ??= check().finally(() => {
      checking = null;
    });
    return checking;
  };
  const timer = setInterval(() => {
    if (!released) checkOnce().catch(() => undefined);
  }, renewMs);
  timer.unref();
  const open_ = () => lost === null && !released && Date.now() - confirmedAt < suspectMs;
  const release = async () => {
    if (released) return;
    released = true;
    clearInterval(timer);
    await checking?.catch(() => undefined);
    // Only our own lock: one taken over meanwhile is its new holder's.
    if (lost === null && (await see(path).catch(() => null))?.ident === me.nonce)
      await unlink(path).catch(() => undefined);
    await fh.close().catch(() => undefined);
    mine.delete(me.nonce);
  };
  // A getter, not a copied value (Object.assign would copy `lost` once, as null).
  Object.defineProperty(release, 'lost', { get: () => lost, enumerable: true });
  return Object.assign(release as typeof release & { readonly lost: LockLoss | null }, {
    open: open_,
    async confirm(): Promise<void> {
      if (lost) throw lostError(lost);
      if (open_()) return;
      if (released) throw new SwitchboardError('SB_ERR_UNAVAILABLE', `data directory ${dir} is closed`);
      try {
        await checkOnce();
      } catch (e) {
        throw new SwitchboardError(
          'SB_ERR_UNAVAILABLE',
          `could not check the lock of data directory ${dir}: ${(e as Error).message}`,
        );
      }
      if (lost) throw lostError(lost);
      if (!open_())
        throw new SwitchboardError(
          'SB_ERR_UNAVAILABLE',
          `the lock of data directory ${dir} is not confirmed`,
        );
    },
    onLost(listener: (loss: LockLoss) => void): void {
      const l = lost;
      if (l) queueMicrotask(() => listener(l));
      else listeners.push(listener);
    },
  });
}

/** The holder file, written whole and synced before any name links to it. */
async function writeHolder(tmp: string, path: string, me: Holder): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    throw new Error(`could not create the data directory's lock ${path}: ${(e as Error).message}`);
  }
  try {
    await fh.writeFile(JSON.stringify(me));
    await fh.sync();
    await fh.close();
  } catch (e) {
    // A full disk at start-up: say which file, and leave nothing behind.
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw new Error(`could not write the data directory's lock ${path}: ${(e as Error).message}`);
  }
}

/** link(2) failed with one of these: the file system has no hard links (FAT, some FUSE and SMB mounts). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Creates `name` holding `text` unless it exists (false then). Where hard links work: `link(tmp, name)`,
 * `tmp` touched first so the new name's mtime is now (a lock is judged by it elsewhere), and the name
 * appears whole. Where they do not: an O_EXCL create, then the write; a reader that finds it empty
 * meanwhile judges it by its mtime, as a lock from elsewhere (`judge`), so it is never taken for stale.
 */
async function createWhole(
  tmp: string,
  name: string,
  text: string,
  fs: { link: (existing: string, name: string) => Promise<void>; noLinks: boolean },
): Promise<boolean> {
  if (!fs.noLinks) {
    const now = new Date();
    await utimes(tmp, now, now).catch(() => undefined);
    try {
      await fs.link(tmp, name);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST') return false;
      if (!NO_LINKS.has(code))
        throw new Error(`could not create the data directory's lock ${name}: ${(e as Error).message}`);
      fs.noLinks = true;
    }
  }
  let fh: FileHandle;
  try {
    fh = await open(name, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new Error(`could not create the data directory's lock ${name}: ${(e as Error).message}`);
  }
  try {
    await fh.writeFile(text);
    await fh.sync();
    await fh.close();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(name).catch(() => undefined);
    throw new Error(`could not write the data directory's lock ${name}: ${(e as Error).message}`);
  }
  return true;
}

/** Throws if the lock seen is held by a live process; returns if it is stale. */
async function judge(
  dir: string,
  path: string,
  seen: Seen,
  me: Holder,
  staleMs: number,
  renewMs: number,
): Promise<void> {
  if (seen.notFile) return;
  const held = seen.holder;
  if (held && held.host === me.host && held.pidns === me.pidns) {
    if (held.pid === process.pid ? mine.has(held.nonce) : alive(held.pid))
      throw new Error(`data directory ${dir} is in use by process ${held.pid}`);
    return;
  }
  // Another host or PID namespace (or a holder that cannot be read): only its renewals count.
  let last = seen.mtimeMs;
  for (;;) {
    if (Date.now() - last > staleMs) return;
    // A lock without a holder yet (being written, where there are no hard links) is looked at again soon.
    const wait = held ? renewMs : 50;
    await new Promise((r) => setTimeout(r, Math.min(wait, staleMs - (Date.now() - last) + 10)));
    const now = await see(path);
    if (now === null || now.ident !== seen.ident) return; // gone or replaced: look again
    if (now.mtimeMs !== last) {
      throw new Error(
        `data directory ${dir} is in use by process ${held?.pid ?? '?'} on ${held?.host ?? '?'} (${held?.pidns || 'another PID namespace'}): its lock is being renewed; a lock is taken over only after ${staleMs} ms without renewal`,
      );
    }
    last = now.mtimeMs;
  }
}

/**
 * Removes the stale lock `stale` if this process wins its takeover claim (see the table above). 'busy':
 * another live claimant is at it (wait a moment, then look again).
 */
async function takeOver(
  path: string,
  make: (name: string) => Promise<boolean>,
  stale: Seen,
  me: Holder,
  staleMs: number,
): Promise<'done' | 'busy'> {
  const base = `${path}.takeover.${stale.ident.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  let k = 0;
  for (; ; k++) {
    if (k >= 8) throw new Error(`could not take over the stale lock ${path}: ${k} claims on it failed`);
    if (await make(`${base}.${k}`)) break;
    const claim = await see(`${base}.${k}`);
    if (claim === null) {
      k--; // removed meanwhile (its claimant finished): try the same one again
      continue;
    }
    const c = claim.holder;
    const live =
      c && c.host === me.host && c.pidns === me.pidns
        ? c.pid === process.pid
          ? mine.has(c.nonce)
          : alive(c.pid)
        : Date.now() - claim.mtimeMs <= staleMs;
    if (live) return 'busy';
  }
  try {
    const now = await see(path);
    // Still the lock judged stale (only a claimant removes it), and not renewed since: removed. Else it
    // went on its own, or its holder is back (resumed after a stop) and the next look judges it again.
    if (now !== null && now.ident === stale.ident && (stale.notFile || now.mtimeMs === stale.mtimeMs)) {
      await unlink(path).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT')
          throw new Error(
            `could not remove the stale lock ${path} of data directory ${dirname(path)}: ${e.message}`,
          );
      });
    }
  } finally {
    // This claim and the dead ones below it: `stale` is gone for good, so a late claim removes nothing.
    for (let i = k; i >= 0; i--) await unlink(`${base}.${i}`).catch(() => undefined);
  }
  return 'done';
}

/** Reads a lock (or claim) file through one handle: its holder, identity and mtime. Null: not there. */
async function see(file: string): Promise<Seen | null> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'EISDIR') {
      const s = await stat(file).catch(() => null);
      return s ? { holder: null, ident: `i${s.ino}`, mtimeMs: s.mtimeMs, notFile: true } : null;
    }
    throw e;
  }
  try {
    const s = await fh.stat();
    if (!s.isFile()) return { holder: null, ident: `i${s.ino}`, mtimeMs: s.mtimeMs, notFile: true };
    const holder = parseHolder(await fh.readFile('utf8'));
    return {
      holder,
      ident: holder?.nonce || `i${s.ino}`,
      mtimeMs: s.mtimeMs,
      notFile: false,
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EISDIR')
      return { holder: null, ident: 'dir', mtimeMs: 0, notFile: true };
    throw e;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** The lock's holder: the JSON form, or a bare pid (written before the holder was named: this namespace). */
function parseHolder(text: string): Holder | null {
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

/**
 * Removes what a crashed acquisition left (its `.tmp`, its takeover claims), once older than `ageMs`:
 * a younger one may belong to a node that is still looking at the lock.
 */
async function sweep(dir: string, ageMs: number): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) {
    if (!(n.startsWith('LOCK.') && (n.endsWith('.tmp') || n.startsWith('LOCK.takeover.')))) continue;
    const s = await stat(join(dir, n)).catch(() => null);
    if (s && Date.now() - s.mtimeMs > ageMs) await unlink(join(dir, n)).catch(() => undefined);
  }
}
