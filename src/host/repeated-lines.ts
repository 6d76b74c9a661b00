/**
 * Log lines that come in floods of the same kind: on a full disk every call that changes a tenant fails
 * its append, and each failed call logged four lines (the write failed, the append failed, the partition
 * reloads, the partition recovered) — thousands a second under load, burying everything else.
 *
 * The first line of a kind is logged as it comes, in full. The same kind again within the window is held
 * back and counted; at the end of each window one line says how many were (`repeated`, with the fields of
 * the last one and, where given, how many tenants they concerned). A window with none of that kind ends
 * it: its next line is logged in full again, as a first.
 *
 * | time (window 10 s) | lines of kind K    | logged                                               |
 * |--------------------|--------------------|------------------------------------------------------|
 * | 0 s                | the 1st            | that line                                            |
 * | 0–10 s             | 2nd … 500th        | nothing                                              |
 * | 10 s               |                    | the 500th's fields + `repeated: 499, tenants: 3`     |
 * | 10–20 s            | none               | nothing; K ends at 20 s                              |
 * | 25 s               | one more           | that line, in full (a new first)                     |
 *
 * Kinds are keyed by the caller (e.g. `op:code`), so a new kind of failure is never hidden behind an
 * old one.
 */
import type { Logger } from 'pino';

type Level = 'error' | 'warn' | 'info';

interface Kind {
  level: Level;
  msg: string;
  /** Lines held back since the last one logged. */
  held: number;
  /** The fields of the last line held back. */
  last: Record<string, unknown>;
  /** Tenants of the lines held back (counted up to `MAX_TENANTS`). */
  tenants: Set<string>;
  timer: NodeJS.Timeout;
}

const MAX_TENANTS = 10_000;

/** See the file comment. */
export class RepeatedLines {
  private readonly kinds = new Map<string, Kind>();

  constructor(
    private readonly logger: Pick<Logger, Level> | undefined,
    /** The window (ms): at most one line per kind per window after its first. */
    readonly windowMs = 10_000,
  ) {}

  /** Logs `msg` with `fields` at `level` unless a line of `kind` was logged within the window. */
  log(level: Level, kind: string, fields: Record<string, unknown>, msg: string, tenant?: string): void {
    if (!this.logger) return;
    const k = this.kinds.get(kind);
    if (k) {
      k.held++;
      k.last = fields;
      if (tenant !== undefined && k.tenants.size < MAX_TENANTS) k.tenants.add(tenant);
      return;
    }
    this.logger[level](fields, msg);
    const entry: Kind = {
      level,
      msg,
      held: 0,
      last: fields,
      tenants: new Set(),
      timer: setInterval(() => this.endWindow(kind, entry), this.windowMs),
    };
    entry.timer.unref();
    this.kinds.set(kind, entry);
  }

  /** Says what is held back now (a stopping node's last word) and ends every kind. */
  close(): void {
    for (const [kind, k] of this.kinds) {
      this.summarise(k);
      clearInterval(k.timer);
      this.kinds.delete(kind);
    }
  }

  private endWindow(kind: string, k: Kind): void {
    if (k.held === 0) {
      clearInterval(k.timer);
      this.kinds.delete(kind);
      return;
    }
    this.summarise(k);
  }

  private summarise(k: Kind): void {
    if (k.held === 0) return;
    this.logger?.[k.level](
      {
        ...k.last,
        repeated: k.held,
        windowSeconds: this.windowMs / 1000,
        ...(k.tenants.size > 0 ? { tenants: k.tenants.size } : {}),
      },
      k.msg,
    );
    k.held = 0;
    k.tenants.clear();
  }
}
