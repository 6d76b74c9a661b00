/**
 * Determinism, the basis of recovery: the same commands give the same state; snapshot → restore → continue
 * equals never snapshotting (through JSON and through structured clone, as snapshots travel); a retried
 * command id changes nothing and gets the same answer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ApplyResult, EngineSnapshot } from '../../src/engine/index.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import { SlicedSnapshot } from '../../src/host/sliced-snapshot.js';
import { deepFreeze } from '../support/deep-freeze.js';
import { FULL, replay, runScenario, runsFor, scenarioArb, timeoutFor } from '../support/engine-gen.js';

const P = 'tenant-prop';

/** Deep equality of replies and events; the cheap JSON comparison first, vitest's diff only on a mismatch. */
function sameResults(actual: ApplyResult[], expected: ApplyResult[]): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) expect(actual).toEqual(expected);
}

function snapshotRoundTrip(via: 'json' | 'structuredClone') {
  const numRuns = runsFor(0.1);
  return [
    () => {
      fc.assert(
        fc.property(scenarioArb(FULL), fc.double({ min: 0, max: 1, noNaN: true }), (s, cutAt) => {
          // Snapshot the live engine part-way through the day (setup included), as a host would.
          const planned = 1 + s.queues.length + 2 * s.agents.length + s.ops.length;
          const cut = Math.floor(cutAt * planned);
          let snap: EngineSnapshot | null = null;
          let digestAtCut = '';
          let timerAtCut: number | null = null;
          const straight = createEngine(P);
          const { steps } = runScenario(straight, FULL, s, {
            afterEach: (engine, _model, _step, i) => {
              if (i !== cut - 1) return;
              snap = engine.snapshot();
              digestAtCut = engine.digest();
              timerAtCut = engine.nextTimerAt();
            },
          });
          const from = snap ? cut : 0;
          const taken: EngineSnapshot = snap ?? createEngine(P).snapshot();
          const copy: EngineSnapshot =
            via === 'json' ? JSON.parse(JSON.stringify(taken)) : structuredClone(taken);
          const restored = restoreEngine(copy);
          if (snap) {
            expect(restored.digest()).toBe(digestAtCut);
            expect(restored.nextTimerAt()).toBe(timerAtCut);
          }
          const rest = replay(
            restored,
            steps.slice(from).map((st) => st.env),
          );
          sameResults(
            rest,
            steps.slice(from).map((st) => st.result),
          );
          expect(restored.digest()).toBe(straight.digest());
          // Per-agent lists are derived on restore, not snapshotted: they must come back the same.
          const at = steps.at(-1)?.env.at ?? 0;
          const agents = straight.query({ type: 'list_agents' }, at);
          for (const a of agents.type === 'list_agents' ? agents.agents : []) {
            const q = { type: 'agent_conversations', agentId: a.id } as const;
            expect(restored.query(q, at)).toEqual(straight.query(q, at));
          }
        }),
        { numRuns },
      );
    },
    timeoutFor(numRuns),
  ] as const;
}

describe('determinism over random days', () => {
  const replayRuns = runsFor(0.1);
  it(
    'replaying the same commands gives the same events, replies and digest',
    () => {
      fc.assert(
        fc.property(scenarioArb(FULL), (s) => {
          const first = createEngine(P);
          const { steps } = runScenario(first, FULL, s);
          const second = createEngine(P);
          const results = replay(
            second,
            steps.map((st) => st.env),
          );
          sameResults(
            results,
            steps.map((st) => st.result),
          );
          expect(second.digest()).toBe(first.digest());
        }),
        { numRuns: replayRuns },
      );
    },
    timeoutFor(replayRuns),
  );

  // `--pool inline` hands the engine the host's own command objects (the log encodes them after the apply):
  // the engine must never write into a command, then or on any later command.
  const frozenRuns = runsFor(0.05);
  it(
    'the engine never writes into the commands it is given: a replay of deep-frozen commands gives the same results',
    () => {
      fc.assert(
        fc.property(scenarioArb(FULL), (s) => {
          const first = createEngine(P);
          const { steps } = runScenario(first, FULL, s);
          const frozen = createEngine(P);
          const results = replay(
            frozen,
            steps.map((st) => deepFreeze(structuredClone(st.env))),
          );
          expect(frozen.halted).toBeNull();
          sameResults(
            results,
            steps.map((st) => st.result),
          );
          expect(frozen.digest()).toBe(first.digest());
          // Reads after the day, over state that may still hold pieces of those commands.
          const at = steps.at(-1)?.env.at ?? 0;
          for (const q of [
            { type: 'list_agents' },
            { type: 'list_queues' },
            { type: 'all_queue_stats' },
          ] as const)
            expect(frozen.query(q, at)).toEqual(first.query(q, at));
          expect(frozen.halted).toBeNull();
        }),
        { numRuns: frozenRuns },
      );
    },
    timeoutFor(frozenRuns),
  );

  // The host's worker captures a big partition a few thousand records at a time (other partitions'
  // work between the steps), then serialises and digests it in slices while this one moves on.
  const slicedRuns = runsFor(0.05);
  it(
    'a snapshot captured in steps, then serialised in slices while the day goes on, is the snapshot at the capture: same text, digest and restore',
    () => {
      fc.assert(
        fc.property(
          scenarioArb(FULL),
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.integer({ min: 1, max: 7 }),
          (s, cutAt, chunk) => {
            const planned = 1 + s.queues.length + 2 * s.agents.length + s.ops.length;
            const cut = Math.max(1, Math.floor(cutAt * planned));
            let job: SlicedSnapshot | null = null;
            let made: SlicedSnapshot | null = null;
            let text = '';
            let expected = '';
            let digestAtCut = '';
            let steps = 0;
            const straight = createEngine(P);
            runScenario(straight, FULL, s, {
              afterEach: (engine, _model, _step, i) => {
                if (i === cut - 1) {
                  expected = JSON.stringify(engine.snapshot());
                  digestAtCut = engine.digest();
                  job = new SlicedSnapshot(engine.snapshotSteps(chunk));
                  made = job;
                  // The capture in steps (nothing applied to this engine meanwhile).
                  while (!job.captured) {
                    text += job.step(0).json;
                    steps++;
                  }
                } else if (job !== null) {
                  // The serialisation goes on between this engine's commands.
                  const r = (job as SlicedSnapshot).step(0.01);
                  text += r.json;
                  if (r.done) job = null;
                }
              },
            });
            if (expected === '') return;
            const rest = job as SlicedSnapshot | null;
            if (rest !== null) {
              for (let r = rest.step(1000); ; r = rest.step(1000)) {
                text += r.json;
                if (r.done) break;
              }
            }
            expect(steps).toBeGreaterThan(0);
            expect(text).toBe(expected);
            expect((made as SlicedSnapshot | null)?.digest).toBe(digestAtCut);
            expect(restoreEngine(JSON.parse(text) as EngineSnapshot).digest()).toBe(digestAtCut);
          },
        ),
        { numRuns: slicedRuns },
      );
    },
    timeoutFor(slicedRuns),
  );

  it(
    'snapshot → JSON → restore → continue gives the same digest as never snapshotting',
    ...snapshotRoundTrip('json'),
  );

  it(
    'snapshot → structuredClone → restore → continue gives the same digest as never snapshotting',
    ...snapshotRoundTrip('structuredClone'),
  );

  const dupRuns = runsFor(0.1);
  it(
    'a retried command id changes nothing and gets the same reply',
    () => {
      fc.assert(
        fc.property(scenarioArb(FULL), (s) => {
          const { steps } = runScenario(createEngine(P), FULL, s);
          // Replay on a second engine, taking digests only around the retried ids (digests are not free).
          const engine = createEngine(P);
          const problems: string[] = [];
          steps.forEach((step, i) => {
            const retry = step.duplicateOf !== undefined;
            const before = retry ? engine.digest() : '';
            const result = engine.apply(step.env);
            if (!retry) return;
            const orig = steps[step.duplicateOf!]!;
            const where = `step ${i} re-sends ${step.env.id} (${step.env.cmd.type})`;
            if (engine.digest() !== before) problems.push(`${where}: digest changed`);
            if (!result.ok) problems.push(`${where}: answered with error ${result.error.code}`);
            else if (orig.result.ok) {
              if (JSON.stringify(result.reply) !== JSON.stringify(orig.result.reply)) {
                problems.push(
                  `${where}: reply ${JSON.stringify(result.reply)} ≠ ${JSON.stringify(orig.result.reply)}`,
                );
              }
              if (result.duplicate !== true) problems.push(`${where}: not flagged duplicate`);
              if (result.events.length > 0) problems.push(`${where}: events published again`);
            }
          });
          expect(problems).toEqual([]);
        }),
        { numRuns: dupRuns },
      );
    },
    timeoutFor(dupRuns),
  );
});
