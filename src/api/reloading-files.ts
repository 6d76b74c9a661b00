/**
 * A value read from files that is read again when they change: TLS certificates and the API tokens file,
 * both rotated in place by secret managers (a Kubernetes secret volume swaps a symlink, so the inode and
 * mtime change). Polled by `stat` every few seconds rather than `fs.watch`, which misses symlink swaps on
 * some file systems and fires several times for one rotation.
 *
 * A change is taken only whole and only if `read` accepts it: a rotation caught half-way or a broken
 * file keeps the last good value in service and is reported once — not at every check while it stays as
 * it is; any later change to the files (the fix, or the rest of the rotation) is read at the next check.
 */
import { statSync } from 'node:fs';

/** What identifies the files' current versions. */
export function filesStamp(paths: readonly string[]): string {
  return paths
    .map((p) => {
      try {
        const s = statSync(p);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

export class ReloadingFiles<T> {
  private current: T;
  private version: string;
  /** The files' version last refused (reported once; read again only once they change). */
  private refused: string | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(v: T) => void>();

  /** Reads now (a throw from `read` propagates: unusable files at start are the caller's error). */
  constructor(
    private readonly paths: readonly string[],
    private readonly read: () => T,
    private readonly events: { reloaded?: () => void; rejected?: (e: Error) => void } = {},
  ) {
    this.version = filesStamp(paths);
    this.current = read();
  }

  get value(): T {
    return this.current;
  }

  /** Called with each new value. */
  onChange(listener: (v: T) => void): void {
    this.listeners.add(listener);
  }

  /** Reads the files again if they changed since the last good read. */
  check(): void {
    const v = filesStamp(this.paths);
    if (v === this.version || v === this.refused) return;
    let next: T;
    try {
      next = this.read();
    } catch (e) {
      this.refused = v;
      this.events.rejected?.(e as Error);
      return;
    }
    try {
      for (const l of this.listeners) l(next);
    } catch (e) {
      // A listener refused the value (it runs on a timer: a throw must not reach the event loop).
      this.refused = v;
      this.events.rejected?.(e as Error);
      return;
    }
    this.refused = null;
    this.version = v;
    this.current = next;
    this.events.reloaded?.();
  }

  /** Checks every `intervalMs` until `close()`. */
  watch(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
