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

/** UTC instant of a local wall-clock time in `tz` (two-pass offset fix handles DST edges). */
function utcOf(tz: string, y: number, mo: number, d: number, minuteOfDay: number): number {
  const wall = Date.UTC(y, mo - 1, d, 0, minuteOfDay);
  let t = wall;
  for (let i = 0; i < 2; i++) {
    const l = local(tz, t);
    const asUtc = Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s);
    const offset = asUtc - Math.floor(t / 1000) * 1000;
    t = wall - offset;
  }
  return t;
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

/** The next instant ≥ t at which the queue is open, searching 366 days ahead; null if never. */
export function nextOpenAt(bh: BusinessHours, t: number): number | null {
  if (bh.windows.length === 0) return null;
  if (isOpen(bh, t)) return t;
  const l0 = local(bh.timeZone, t);
  for (let k = 0; k < 367; k++) {
    // Walk local calendar days from today; Date.UTC normalises day overflow.
    const day = new Date(Date.UTC(l0.y, l0.mo - 1, l0.d + k));
    const y = day.getUTCFullYear();
    const mo = day.getUTCMonth() + 1;
    const d = day.getUTCDate();
    const wd = day.getUTCDay();
    if (bh.holidays.includes(dateKey(y, mo, d))) continue;
    let best: number | null = null;
    for (const w of bh.windows) {
      if (w.day !== wd) continue;
      const open = utcOf(bh.timeZone, y, mo, d, minutes(w.open));
      const close = utcOf(bh.timeZone, y, mo, d, minutes(w.close));
      const start = Math.max(open, t);
      if (start < close && (best === null || start < best)) best = start;
    }
    if (best !== null) return best;
  }
  return null;
}

/** Per-queue memo: the answer for one minute, since arrivals cluster in time. */
export class HoursCache {
  private minute = -1;
  private open = true;
  /** Next opening for `minute` (openings are whole local minutes, so it is the same all minute long). */
  private next: number | null | undefined = undefined;

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

  private at(bh: BusinessHours, t: number): void {
    const m = Math.floor(t / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.open = isOpen(bh, t);
      this.next = undefined;
    }
  }
}
