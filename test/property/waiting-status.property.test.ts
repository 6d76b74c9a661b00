/**
 * Waiting customers over a random stretch of a day across opening and closing times, on a queue with
 * business hours and one with a maximum size and offers (a missed offer re-joins the line at its age), with
 * transfers between them (a transferred conversation joins the other line anew): the derived state behind the waiting-status notices and the
 * service level (what each customer was last told, the per-line count of those waiting past the
 * threshold) must
 *   - equal a brute-force count (waiting past the threshold, from the conversations themselves),
 *   - survive snapshot → JSON → restore → continue exactly (same replies, events and digest),
 *   - announce every change of status once: each waiting customer's last notice names their status,
 *     and the size-limited queue's capacity alerts alternate, the last one saying whether it is over.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { ApplyResult, Command, CommandEnvelope, Engine, EngineEvent } from '../../src/engine/index.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import { capacityRecoveredAt } from '../../src/engine/partition.js';
import { runsFor, timeoutFor } from '../support/engine-gen.js';

const P = 'tenant-status';
const START = Date.UTC(2026, 0, 5, 7, 40, 0); // Monday 08:40 in Paris: closed, opens at 09:00
const THRESHOLD_S = 20;
const office = {
  timeZone: 'Europe/Paris',
  windows: [1, 2, 3, 4, 5].map((day) => ({ day, open: '09:00', close: '18:00' })),
  holidays: [],
};
const sla = { target: 0.8, thresholdSeconds: THRESHOLD_S, windowSeconds: 3600 };

type Op =
  | { k: 'enqueue'; q: 'hours' | 'small' }
  | { k: 'wait'; ms: number }
  | { k: 'presence'; a: 0 | 1; online: boolean }
  | { k: 'end'; i: number }
  | { k: 'cancel'; i: number }
  | { k: 'reject'; a: 0 | 1; i: number }
  | { k: 'transfer'; i: number; to: 'hours' | 'small' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('hours', 'small').map((q) => ({ k: 'enqueue', q }) as Op) },
  {
    weight: 4,
    arbitrary: fc
      .oneof(fc.integer({ min: 1_000, max: 40_000 }), fc.integer({ min: 60_000, max: 3 * 3_600_000 }))
      .map((ms) => ({ k: 'wait', ms }) as Op),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(0, 1), fc.boolean())
      .map(([a, online]) => ({ k: 'presence', a, online }) as Op),
  },
  { weight: 2, arbitrary: fc.nat(30).map((i) => ({ k: 'end', i }) as Op) },
  { weight: 1, arbitrary: fc.nat(30).map((i) => ({ k: 'cancel', i }) as Op) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constantFrom(0, 1), fc.nat(30)).map(([a, i]) => ({ k: 'reject', a, i }) as Op),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(30), fc.constantFrom('hours', 'small'))
      .map(([i, to]) => ({ k: 'transfer', i, to }) as Op),
  },
);

/** The envelopes of a day: the desk, then the operations (times and ids fixed up front). */
function envelopes(ops: Op[]): CommandEnvelope[] {
  const out: CommandEnvelope[] = [];
  let t = START;
  let n = 0;
  const add = (cmd: Command) => out.push({ id: `e${out.length}`, at: t, cmd });
  add({ type: 'upsert_queue', queue: queueConfig('hours', { businessHours: office, serviceLevel: sla }) });
  add({
    type: 'upsert_queue',
    queue: queueConfig('small', { maxSize: 2, serviceLevel: sla, offerTimeoutSeconds: 15 }),
  });
  for (const id of ['a0', 'a1'])
    add({ type: 'upsert_agent', agent: agentConfig(id, { capacity: { chat: 1 } }) });
  for (const op of ops) {
    switch (op.k) {
      case 'enqueue':
        add({
          type: 'enqueue',
          conversation: conversation(`c${n}`, { queueId: op.q }),
        });
        n++;
        break;
      case 'wait':
        t += op.ms;
        add({ type: 'tick' });
        break;
      case 'presence':
        add({ type: 'set_presence', agentId: `a${op.a}`, presence: op.online ? 'online' : 'offline' });
        break;
      case 'end':
        add({ type: 'end_conversation', conversationId: `c${op.i}`, outcome: 'resolved' });
        break;
      case 'cancel':
        add({ type: 'cancel', conversationId: `c${op.i}` });
        break;
      case 'reject':
        add({ type: 'reject_offer', agentId: `a${op.a}`, conversationId: `c${op.i}` });
        break;
      case 'transfer':
        add({ type: 'transfer', conversationId: `c${op.i}`, toQueueId: op.to });
        break;
    }
  }
  return out;
}

const NOTICES = new Set(['queued', 'over_capacity', 'outside_hours']);

/**
 * Brute force: conversations of `queueId` waiting (in line, held, or being offered: nobody has taken
 * them yet) longer than the threshold at `now`, except those already answered in that queue
 * (`answeredIn`: transferred back into it, counted when answered). The office-hours queue's wait runs
 * over opening time: from the later of joining and its opening, none while it is closed.
 */
function waitingPast(
  engine: Engine,
  queueId: string,
  joined: Map<string, number>,
  answeredIn: Map<string, string>,
  now: number,
): number {
  let n = 0;
  for (const [id, at] of joined) {
    const r = engine.query({ type: 'conversation', conversationId: id }, now);
    const c = r.type === 'conversation' ? r.conversation : null;
    if (!c || c.queueId !== queueId || answeredIn.get(id) === queueId) continue;
    const waiting = c.status === 'waiting' || c.status === 'offered';
    const since = queueId === 'hours' ? openedAt(now) : Number.NEGATIVE_INFINITY;
    if (waiting && since !== null && Math.max(at, since) + THRESHOLD_S * 1000 < now) n++;
  }
  return n;
}

describe('waiting status and the service level over opening hours and queue limits', () => {
  const numRuns = runsFor(0.05);
  // What the random days covered (checked after the runs: a property that never met the case proves nothing).
  const seen = {
    pastThreshold: 0,
    reopened: 0,
    closedUnder: 0,
    overCapacity: 0,
    missedOffers: 0,
    transferred: 0,
    /** An answered conversation transferred back into its own queue (out of its service level). */
    backAfterAnswer: 0,
    /** One not yet answered transferred into the queue it waits in (keeps its wait). */
    requeued: 0,
    overCapacityAlerts: 0,
    cut: 0,
  };
  it(
    'counts equal a brute-force count, every status change is announced, and a restored engine carries on identically',
    () => {
      fc.assert(
        fc.property(
          fc.array(opArb, { minLength: 5, maxLength: 60 }),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (ops, cutAt) => {
            const envs = envelopes(ops);
            const engine = createEngine(P);
            const results: ApplyResult[] = [];
            const lastNotice = new Map<string, string>();
            // When each conversation's wait in its current queue began: its enqueue, or its last transfer
            // (not one into the queue it waits in before it was answered there: the same wait goes on).
            const joined = new Map<string, number>();
            // When its 30 s re-checks started: its enqueue or its last transfer, whichever came last.
            const recheckFrom = new Map<string, number>();
            // The queue each conversation was last answered in, while it is still that queue's.
            const answeredIn = new Map<string, string>();
            // Whether the small queue's last capacity alert said it was over its maximum size (2).
            let overAnnounced = false;
            const ids = envs.flatMap((e) => (e.cmd.type === 'enqueue' ? [e.cmd.conversation.id] : []));
            const cut = Math.floor(cutAt * envs.length);
            let snapshot: string | null = null;
            for (const [i, env] of envs.entries()) {
              if (i === cut) snapshot = JSON.stringify(engine.snapshot());
              const r = engine.apply(env);
              results.push(r);
              // The desk (two queues, two agents) comes first.
              if (!r.ok || i < 4) continue;
              if (env.cmd.type === 'enqueue' && r.events.length > 0) {
                joined.set(env.cmd.conversation.id, env.at);
                recheckFrom.set(env.cmd.conversation.id, env.at);
              }
              for (const e of r.events as EngineEvent[]) {
                if (e.type === 'transferred') {
                  const sameWait =
                    e.queueId === e.fromQueueId && answeredIn.get(e.conversationId) !== e.queueId;
                  if (sameWait) seen.requeued++;
                  else joined.set(e.conversationId, env.at);
                  recheckFrom.set(e.conversationId, env.at);
                  if (e.queueId !== e.fromQueueId) answeredIn.delete(e.conversationId);
                  else if (answeredIn.get(e.conversationId) === e.queueId) seen.backAfterAnswer++;
                  seen.transferred++;
                }
                if (e.type === 'assigned') answeredIn.set(e.conversationId, e.queueId);
                if (NOTICES.has(e.type)) {
                  const id = (e as { conversationId: string }).conversationId;
                  const before = lastNotice.get(id);
                  if (before === 'outside_hours' && e.type === 'queued') seen.reopened++;
                  if (before === 'queued' && e.type === 'outside_hours') seen.closedUnder++;
                  if (e.type === 'over_capacity') seen.overCapacity++;
                  lastNotice.set(id, e.type);
                }
                // A missed offer puts the conversation back in line at its age: the side heap's count.
                if (e.type === 'offer_missed') seen.missedOffers++;
                if (e.type === 'alert' && e.alert.startsWith('queue_')) {
                  // Alternating: raised only when not raised, recovered only when raised.
                  expect(e.alert).toBe(overAnnounced ? 'queue_capacity_recovered' : 'queue_over_capacity');
                  overAnnounced = !overAnnounced;
                  if (overAnnounced) seen.overCapacityAlerts++;
                }
                if (e.type === 'alert' && e.alert.startsWith('sla_')) {
                  expect(e.value).toBeGreaterThanOrEqual(0);
                  expect(e.value).toBeLessThanOrEqual(1);
                }
              }
              // Asked now and for a later time (a wallboard's clock ahead of the engine's): the count is
              // right for the time asked, and asking changes nothing (the restored engine below never
              // saw these queries and must still answer every command alike).
              for (const at of [env.at, env.at + 45_000]) {
                for (const q of ['hours', 'small']) {
                  const s = engine.query({ type: 'queue_stats', queueId: q }, at);
                  if (s.type !== 'queue_stats' || !s.stats) throw new Error('no stats');
                  expect(s.stats.waitingPastThreshold, `${q} after ${env.id}, asked for ${at}`).toBe(
                    waitingPast(engine, q, joined, answeredIn, at),
                  );
                  expect(s.stats.waitingPastThreshold).toBeLessThanOrEqual(s.stats.waiting);
                  if (s.stats.waitingPastThreshold > 0) seen.pastThreshold++;
                  // After every command the last capacity alert tells the truth about the size: raised
                  // above the maximum (2), cleared only at or below the recovery margin under it (1).
                  if (q === 'small' && at === env.at) {
                    expect(s.stats.overCapacity).toBe(overAnnounced);
                    if (overAnnounced) expect(s.stats.waiting).toBeGreaterThan(capacityRecoveredAt(2));
                    else expect(s.stats.waiting).toBeLessThanOrEqual(2);
                  }
                }
              }
              // A tick runs every re-check due (every 30 s from the enqueue, while the customer waits): at
              // the last one, a customer of the office-hours queue was told whether it was open then.
              if (env.cmd.type === 'tick') {
                for (const id of ids) {
                  const v = engine.query({ type: 'conversation', conversationId: id }, env.at);
                  const c = v.type === 'conversation' ? v.conversation : null;
                  if (c?.status !== 'waiting' || c.queueId !== 'hours') continue;
                  const since = recheckFrom.get(id)!;
                  const checked = since + Math.floor((env.at - since) / 30_000) * 30_000;
                  expect(lastNotice.get(id), `${id} re-checked at ${checked}`).toBe(
                    isOpen(checked) ? 'queued' : 'outside_hours',
                  );
                }
              }
            }
            const restored = restoreEngine(
              JSON.parse(snapshot ?? JSON.stringify(createEngine(P).snapshot())),
            );
            const from = snapshot ? cut : 0;
            if (snapshot) seen.cut++;
            const again = envs.slice(from).map((e) => restored.apply(e));
            if (JSON.stringify(again) !== JSON.stringify(results.slice(from)))
              expect(again).toEqual(results.slice(from));
            expect(restored.digest()).toBe(engine.digest());
          },
        ),
        {
          numRuns,
          // The rarest cases, also made sure of: a customer queued in opening hours (09:05, nobody online)
          // who is still waiting at closing time and must be told so, then told again at the next opening
          // (random days met the first only 2–15 times in 600, so the coverage check below failed about
          // once in 50 runs).
          examples: [
            [
              [
                { k: 'wait', ms: 25 * 60_000 },
                { k: 'enqueue', q: 'hours' },
                { k: 'wait', ms: 3 * 3_600_000 },
                { k: 'wait', ms: 3 * 3_600_000 },
                { k: 'wait', ms: 3 * 3_600_000 },
                { k: 'wait', ms: 6 * 60_000 },
                // … and at the next day's opening, told again that it is queued.
                ...Array.from({ length: 5 }, () => ({ k: 'wait', ms: 3 * 3_600_000 }) as Op),
              ],
              0.5,
            ],
            // An answered conversation transferred back into its own queue waits past the threshold
            // (not counted: it was answered) and leaves; random days rarely meet it.
            [
              [
                { k: 'presence', a: 0, online: true },
                { k: 'enqueue', q: 'hours' },
                { k: 'transfer', i: 0, to: 'hours' },
                { k: 'wait', ms: 25_000 },
                { k: 'cancel', i: 0 },
              ],
              0.5,
            ],
            // A conversation not yet answered transferred into the queue it waits in keeps its wait (past
            // the threshold already, and still), and is re-checked from the transfer.
            [
              [
                { k: 'enqueue', q: 'small' },
                { k: 'wait', ms: 25_000 },
                { k: 'transfer', i: 0, to: 'small' },
                { k: 'wait', ms: 10_000 },
                { k: 'wait', ms: 30_000 },
                { k: 'presence', a: 1, online: true },
              ],
              0.5,
            ],
          ],
        },
      );
      for (const [what, n] of Object.entries(seen)) expect(n, what).toBeGreaterThan(0);
    },
    timeoutFor(numRuns),
  );
});

/** When the office opened, while it is open (09:00 Paris that day); null while closed. */
function openedAt(t: number): number | null {
  if (!isOpen(t)) return null;
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(t));
  const get = (k: string) => Number(parts.find((p) => p.type === k)?.value ?? '0');
  const sinceNine = ((get('hour') - 9) * 60 + get('minute')) * 60_000 + get('second') * 1000 + (t % 1000);
  return t - sinceNine;
}

/** Paris office hours on weekdays, as the queue's business hours say. */
function isOpen(t: number): boolean {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Europe/Paris',
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(new Date(t));
  const get = (k: string) => parts.find((p) => p.type === k)?.value ?? '';
  const minutes = Number(get('hour')) * 60 + Number(get('minute'));
  return !['Sat', 'Sun'].includes(get('weekday')) && minutes >= 9 * 60 && minutes < 18 * 60;
}
