/**
 * Business hours in a queue's IANA time zone, with holidays. Uses `Intl.DateTimeFormat` (a JS global, no
 * clock: it only converts the envelope time we give it). Formatters are cached per zone because building
 * one costs ~50 µs; results are cached per queue per minute because a closed queue is asked on every
 * arrival.
 */
import type { BusinessHours } from './types.js';

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function validTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
  wd: number;
}

function local(tz: string, t: number): Local {
  const parts = formatter(tz).formatToParts(t);
  const o: Local = { y: 0, mo: 0, d: 0, h: 0, mi: 0, s: 0, wd: 0 };
  for (const p of parts) {
    switch (p.type) {
      case 'year':
        o.y = Number(p.value);
        break;
      case 'month':
        o.mo = Number(p.value);
        break;
      case 'day':
        o.d = Number(p.value);
        break;
      case 'hour':
        o.h = Number(p.value);
        break;
      case 'minute':
        o.mi = Number(p.value);
        break;
      case 'second':
        o.s = Number(p.value);
        break;
      case 'weekday':
        o.wd = WEEKDAYS[p.value] ?? 0;
        break;
    }
  }
  return o;
}

function dateKey(y: number, mo: number, d: number): string {
  return `${y}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Local wall-clock time minus UTC at `t`, ms (whole seconds: `local` reads no finer). */
function offsetAt(tz: string, t: number): number {
  const l = local(tz, t);
  return Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s) - Math.floor(t / 1000) * 1000;
}

const HOUR = 3_600_000;

/** A stretch of constant UTC offset: from `from` (inclusive) until the next stretch's `from`. */
interface Stretch {
  from: number;
  offset: number;
}

/**
 * The offsets in force over every instant whose local date could be the one starting at `wall0` (UTC
 * offsets lie within −12 h … +14 h). A wall time maps to as many instants as there are stretches, or to
 * none, so on a daylight-saving day a window's instants are found stretch by stretch rather than by
 * converting its wall times (which names one of two 02:30s, or an invented one). Assumes no offset change
 * and its reversal within one bisection interval — true of every zone here (changes are months apart).
 */
function stretches(tz: string, wall0: number): Stretch[] {
  const lo = wall0 - 15 * HOUR;
  const hi = wall0 + 37 * HOUR;
  const out: Stretch[] = [{ from: Number.NEGATIVE_INFINITY, offset: offsetAt(tz, lo) }];
  split(tz, lo, out[0]!.offset, hi, offsetAt(tz, hi), out);
  return out;
}

function split(tz: string, a: number, oa: number, b: number, ob: number, out: Stretch[]): void {
  if (oa === ob) return;
  if (b - a <= 1000) {
    out.push({ from: b, offset: ob });
    return;
  }
  // Whole seconds, as offsets are read to the second; ~18 halvings find a change in the 52 h span.
  const m = a + Math.floor((b - a) / 2000) * 1000;
  const om = offsetAt(tz, m);
  split(tz, a, oa, m, om, out);
  split(tz, m, om, b, ob, out);
}

export function isOpen(bh: BusinessHours, t: number): boolean {
  const l = local(bh.timeZone, t);
  if (bh.holidays.includes(dateKey(l.y, l.mo, l.d))) return false;
  const m = l.h * 60 + l.mi;
  for (const w of bh.windows) {
    if (w.day === l.wd && m >= minutes(w.open) && m < minutes(w.close)) return true;
  }
  return false;
}

/**
 * The first instant ≥ t at which `isOpen` holds, searching 366 days ahead; null if never. Exact on
 * daylight-saving days too: a window starting in the skipped hour opens when the clocks jump into it, and
 * one in the repeated hour opens at its first occurrence (and again at its second).
 */
export function nextOpenAt(bh: BusinessHours, t: number): number | null {
  if (bh.windows.length === 0) return null;
  if (isOpen(bh, t)) return t;
  const tz = bh.timeZone;
  const l0 = local(tz, t);
  let best: number | null = null;
  // From the day before: where the clocks go back across midnight, yesterday's late hours come again.
  for (let k = -1; k < 367; k++) {
    // Walk local calendar days; Date.UTC normalises day overflow.
    const wall0 = Date.UTC(l0.y, l0.mo - 1, l0.d + k);
    // Later days begin later (an offset never moves by a day), so once one begins after the best
    // opening found, none can beat it; no day begins before its midnight at UTC+14.
    if (best !== null && best <= wall0 - 14 * HOUR) break;
    const day = new Date(wall0);
    const wd = day.getUTCDay();
    if (!bh.windows.some((w) => w.day === wd)) continue;
    if (bh.holidays.includes(dateKey(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate())))
      continue;
    // The zone is asked only about days with a window (two look-ups, more on a day its offset changes).
    const ss = stretches(tz, wall0);
    if (best !== null && dayStart(ss, wall0) >= best) break;
    for (const w of bh.windows) {
      if (w.day !== wd) continue;
      for (let i = 0; i < ss.length; i++) {
        const s = ss[i]!;
        const until = i + 1 < ss.length ? ss[i + 1]!.from : Number.POSITIVE_INFINITY;
        const start = Math.max(s.from, wall0 + minutes(w.open) * 60_000 - s.offset, t);
        const end = Math.min(until, wall0 + minutes(w.close) * 60_000 - s.offset);
        if (start < end && (best === null || start < best)) best = start;
      }
    }
  }
  return best;
}

/**
 * When the open stretch containing `t` began: the latest opening at or before `t` with the queue open
 * ever since (windows that meet, across midnight too, make one stretch); null if closed at `t`; −∞ if
 * open through all 367 days searched back (always open). Windows are found as `nextOpenAt` finds them,
 * day by day backwards; a result `isOpen` disagrees with (never seen) falls back to the start of `t`'s
 * minute, so the answer is the same all minute long, as `HoursCache` assumes.
 */
export function openedAt(bh: BusinessHours, t: number): number | null {
  if (!isOpen(bh, t)) return null;
  const tz = bh.timeZone;
  const l0 = local(tz, t);
  let from = Math.floor(t / 60_000) * 60_000;
  for (let k = 0; k >= -367; k--) {
    const wall0 = Date.UTC(l0.y, l0.mo - 1, l0.d + k);
    const day = new Date(wall0);
    const wd = day.getUTCDay();
    // A day without a window: nothing of it reaches the stretch, and earlier days close before it.
    if (!bh.windows.some((w) => w.day === wd)) return from;
    if (bh.holidays.includes(dateKey(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate())))
      return from;
    const ss = stretches(tz, wall0);
    const spans: number[] = [];
    for (const w of bh.windows) {
      if (w.day !== wd) continue;
      for (let i = 0; i < ss.length; i++) {
        const s = ss[i]!;
        const until = i + 1 < ss.length ? ss[i + 1]!.from : Number.POSITIVE_INFINITY;
        const start = Math.max(s.from, wall0 + minutes(w.open) * 60_000 - s.offset);
        const end = Math.min(until, wall0 + minutes(w.close) * 60_000 - s.offset);
        if (start < end) spans.push(start, end);
      }
    }
    // Extend back through every span of the day that reaches the stretch (they may chain: 09–12, 12–18).
    for (let changed = true; changed; ) {
      changed = false;
      for (let i = 0; i < spans.length; i += 2) {
        if (spans[i]! < from && spans[i + 1]! >= from) {
          from = spans[i]!;
          changed = true;
        }
      }
    }
    // Earlier days' windows close by this day's first instant: only a stretch from it can go on.
    if (from > dayStart(ss, wall0)) return from;
  }
  return Number.NEGATIVE_INFINITY;
}

/** The first instant of the local day starting at `wall0`; +∞ for a day the zone skipped. */
function dayStart(ss: Stretch[], wall0: number): number {
  for (let i = 0; i < ss.length; i++) {
    const s = ss[i]!;
    const until = i + 1 < ss.length ? ss[i + 1]!.from : Number.POSITIVE_INFINITY;
    const start = Math.max(s.from, wall0 - s.offset);
    if (start < Math.min(until, wall0 + 24 * HOUR - s.offset)) return start;
  }
  return Number.POSITIVE_INFINITY;
}

/** Per-queue memo: the answer for one minute, since arrivals cluster in time. */
export class HoursCache {
  private minute = -1;
  private open = true;
  /** Next opening for `minute` (openings are whole local minutes, so it is the same all minute long). */
  private next: number | null | undefined = undefined;
  /** Start of the open stretch for `minute` (`openedAt`), when open. */
  private opened: number | undefined = undefined;

  isOpen(bh: BusinessHours | undefined, t: number): boolean {
    if (!bh) return true;
    this.at(bh, t);
    return this.open;
  }

  nextOpenAt(bh: BusinessHours, t: number): number | null {
    this.at(bh, t);
    if (this.open) return t;
    if (this.next === undefined) this.next = nextOpenAt(bh, t);
    return this.next;
  }

  /** `openedAt` (null while closed), the same all minute long. */
  openedAt(bh: BusinessHours, t: number): number | null {
    this.at(bh, t);
    if (!this.open) return null;
    if (this.opened === undefined) this.opened = openedAt(bh, t) ?? Math.floor(t / 60_000) * 60_000;
    return this.opened;
  }

  private at(bh: BusinessHours, t: number): void {
    const m = Math.floor(t / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.open = isOpen(bh, t);
      this.next = undefined;
      this.opened = undefined;
    }
  }
}
