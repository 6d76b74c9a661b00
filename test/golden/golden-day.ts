/**
 * Replays a command log and reduces it to what a golden file pins down: one line per routing decision
 * (offer, assignment, miss, abandonment, overflow, away-after-misses, error), digests at checkpoints, the final
 * digest and summary counts. Comparing line by line names the first decision that changed.
 */
import type { Engine } from '../../src/engine/api.js';
import type { ApplyResult, CommandEnvelope, EngineEvent } from '../../src/engine/types.js';

export interface GoldenExpectation {
  partition: string;
  seed: number;
  commands: number;
  digest: string;
  /** Digest after every `checkpointEvery` commands (index = checkpoint number, 1-based commands). */
  checkpointEvery: number;
  checkpoints: string[];
  counts: Record<string, number>;
}

export interface Replayed {
  lines: string[];
  checkpoints: string[];
  counts: Record<string, number>;
  digest: string;
}

const CHECKPOINT_EVERY = 250;

function line(i: number, env: CommandEnvelope, e: EngineEvent): string | null {
  const head = `#${i} ${env.id}`;
  switch (e.type) {
    case 'offered':
      return `${head} offered ${e.conversationId} -> ${e.agentId} (${e.queueId}) expires ${e.expiresAt}`;
    case 'assigned':
      return `${head} assigned ${e.conversationId} -> ${e.agentId} (${e.queueId}) rule=${e.explanation.rule} strategy=${e.explanation.strategy} candidates=${e.explanation.candidates} relaxed=[${e.explanation.relaxed.join(',')}]`;
    case 'offer_missed':
      return `${head} missed ${e.conversationId} by ${e.agentId} ${e.reason}`;
    case 'offer_rescinded':
      return `${head} rescinded ${e.conversationId} from ${e.agentId} ${e.reason}`;
    case 'abandoned':
      return `${head} abandoned ${e.conversationId} (${e.queueId}) after ${e.waitedMs} ms`;
    case 'overflowed':
      return `${head} overflowed ${e.conversationId} step ${e.step} ${e.action.kind}`;
    case 'transferred':
      return `${head} transferred ${e.conversationId} -> ${e.queueId}/${e.toAgentId ?? '-'}`;
    case 'outside_hours':
      return `${head} outside_hours ${e.conversationId} (${e.queueId}) next ${e.nextOpenAt}`;
    case 'presence_changed':
      return e.reason === 'agent' ? null : `${head} ${e.agentId} -> ${e.presence} (${e.reason})`;
    default:
      return null;
  }
}

/** Applies `envs` to `engine`, collecting decision lines, checkpoint digests and counts. */
export function replayGolden(engine: Engine, envs: readonly CommandEnvelope[]): Replayed {
  const lines: string[] = [];
  const checkpoints: string[] = [];
  const counts: Record<string, number> = { commands: 0, errors: 0, duplicates: 0 };
  envs.forEach((env, i) => {
    const r: ApplyResult = engine.apply(env);
    counts.commands! += 1;
    if (r.duplicate) counts.duplicates! += 1;
    if (!r.ok) {
      counts.errors! += 1;
      lines.push(`#${i} ${env.id} ${env.cmd.type} error ${r.error.code}`);
    } else if (!r.duplicate) {
      for (const e of r.events) {
        counts[e.type] = (counts[e.type] ?? 0) + 1;
        const l = line(i, env, e);
        if (l) lines.push(l);
      }
    }
    if ((i + 1) % CHECKPOINT_EVERY === 0) checkpoints.push(engine.digest());
  });
  return { lines, checkpoints, counts, digest: engine.digest() };
}

/** Expectation record for a replay. */
export function expectationOf(
  partition: string,
  seed: number,
  envs: readonly CommandEnvelope[],
  r: Replayed,
) {
  return {
    partition,
    seed,
    commands: envs.length,
    digest: r.digest,
    checkpointEvery: CHECKPOINT_EVERY,
    checkpoints: r.checkpoints,
    counts: Object.fromEntries(Object.entries(r.counts).sort(([a], [b]) => a.localeCompare(b))),
  } satisfies GoldenExpectation;
}

/** The first differing decision line, with context, or null when all lines agree. */
export function firstChangedDecision(expected: readonly string[], actual: readonly string[]): string | null {
  const n = Math.max(expected.length, actual.length);
  for (let i = 0; i < n; i++) {
    if (expected[i] !== actual[i]) {
      return [
        `decision #${i} changed:`,
        `  expected: ${expected[i] ?? '(none)'}`,
        `  actual:   ${actual[i] ?? '(none)'}`,
        `  previous: ${expected[i - 1] ?? '(start of day)'}`,
      ].join('\n');
    }
  }
  return null;
}
