/**
 * Business hours around daylight-saving changes: what a customer is told about the next opening
 * (`nextOpenAt`) must agree with when the queue actually opens (`isOpen`) — the first instant at or after
 * now at which it is open, never later (told help resumes late) nor at an instant it is still closed.
 * Random windows (some inside the hour the clocks skip or repeat, some pairs split at midnight), random
 * holidays and random instants within three days of a zone's change, in zones that move forward, back,
 * at midnight (São Paulo, 2018), in the southern hemisphere, or never (Kolkata).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HoursCache, isOpen, nextOpenAt } from '../../src/engine/hours.js';
import type { BusinessHours, BusinessHoursWindow } from '../../src/engine/types.js';
import { runsFor, timeoutFor } from '../support/engine-gen.js';

const DAY = 86_400_000;
const MINUTE = 60_000;

/** Instants at which each zone's UTC offset changes (Kolkata's none: an ordinary day). */
const CHANGES: Record<string, number[]> = {
  'Europe/Paris': [Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1)],
  'America/New_York': [Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6)],
  'Australia/Sydney': [Date.UTC(2026, 3, 4, 16), Date.UTC(2026, 9, 3, 16)],
  'Asia/Kolkata': [Date.UTC(2026, 2, 29, 1)],
  // Changed at local midnight: 00:00 → 01:00 on 4 Nov, and 00:00 → 23:00 the day before on 18 Feb.
  'America/Sao_Paulo': [Date.UTC(2018, 10, 4, 3), Date.UTC(2018, 1, 18, 2), Date.UTC(2026, 2, 1, 3)],
};

const hhmm = (m: number): string =>
  `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;

/** Opening minutes, biased towards the small hours (where the clocks change) and late evening. */
const openArb = fc.oneof(
  fc.constantFrom(0, 30, 60, 90, 120, 150, 180, 210, 1380, 1410, 1439),
  fc.integer({ min: 0, max: 1439 }),
);

const windowArb: fc.Arbitrary<BusinessHoursWindow[]> = fc
  .tuple(fc.integer({ min: 0, max: 6 }), openArb, fc.integer({ min: 1, max: 1440 }), fc.boolean())
  .map(([day, open, len, split]) => {
    const close = Math.min(1440, open + len);
    const w = { day, open: hhmm(open), close: close === 1440 ? '24:00' : hhmm(close) };
    // A window across midnight is written as two (types.ts): up to 24:00, then from 00:00.
    if (!split || close !== 1440) return [w];
    return [w, { day: (day + 1) % 7, open: '00:00', close: hhmm(Math.max(1, len % 1440 || 60)) }];
  });

const caseArb = fc.constantFrom(...Object.keys(CHANGES)).chain((timeZone) =>
  fc.record({
    timeZone: fc.constant(timeZone),
    anchor: fc.constantFrom(...CHANGES[timeZone]!),
    windows: fc.array(windowArb, { minLength: 1, maxLength: 5 }).map((ws) => ws.flat()),
    holidayDays: fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 2 }),
    from: fc.integer({ min: -3 * DAY, max: 3 * DAY }),
    later: fc.integer({ min: 0, max: MINUTE - 1 }),
  }),
);

describe('business hours', () => {
  const numRuns = runsFor(0.01);
  it(
    'the next opening is the first instant the queue is open, daylight-saving days included',
    () => {
      fc.assert(
        fc.property(caseArb, (k) => {
          const holidays = k.holidayDays.map((d) => new Date(k.anchor + d * DAY).toISOString().slice(0, 10));
          const bh: BusinessHours = { timeZone: k.timeZone, windows: k.windows, holidays };
          const t = k.anchor + k.from;
          const n = nextOpenAt(bh, t);
          // At most two holidays: every window recurs within the search.
          expect(n).not.toBeNull();
          expect(n!).toBeGreaterThanOrEqual(t);
          expect(isOpen(bh, n!)).toBe(true);
          if (n! > t) expect(isOpen(bh, n! - 1)).toBe(false);
          // Opening and closing happen on whole minutes (every offset here is whole minutes), so the
          // minute starts between now and the answer are every instant at which it could open earlier.
          expect(isOpen(bh, t)).toBe(n === t);
          for (let m = Math.floor(t / MINUTE + 1) * MINUTE; m < n!; m += MINUTE) {
            if (isOpen(bh, m))
              expect.fail(`open at ${new Date(m).toISOString()}, told ${new Date(n!).toISOString()}`);
          }
          // The per-queue cache answers for the whole minute it first computed.
          const cache = new HoursCache();
          const t2 = Math.floor(t / MINUTE) * MINUTE + k.later;
          expect(cache.nextOpenAt(bh, t)).toBe(n);
          if (t2 >= t) expect(cache.nextOpenAt(bh, t2)).toBe(nextOpenAt(bh, t2));
        }),
        { numRuns },
      );
    },
    timeoutFor(numRuns),
  );
});
