/**
 * Customer rules run before the queue's strategy when a conversation first arrives. Each looks at the
 * customer and the conversation's lane and either names an agent to deliver to, asks to keep the
 * conversation for one agent for a while (wait budget), or passes.
 */
import type { Agent, Conv, Lane, Member } from '../model.js';
import type { CustomerConfig, Explanation } from '../types.js';

export type RuleDecision =
  /** `member`: the agent's slot in the lane, whose strategy counts the delivery (a round-robin turn). */
  | { kind: 'deliver'; agent: Agent; member: Member; rule: Explanation['rule'] }
  | { kind: 'reserve'; agent: Agent; untilMs: number; rule: Explanation['rule'] }
  | null;

/** What a rule may ask of the engine (kept narrow so rules stay testable and pure). */
export interface RuleContext {
  readonly now: number;
  agent(id: string): Agent | undefined;
  /** The agent's pool slot in `lane` if it can take `conv` right now (available, fits, not excluded). */
  eligibleMember(agent: Agent, lane: Lane, conv: Conv): Member | null;
  /** First available member of `lane` (strategy order) that fits `conv` and `extra`. */
  firstMember(lane: Lane, conv: Conv, extra: (m: Member) => boolean): Member | null;
}

export type CustomerRule = (
  ctx: RuleContext,
  conv: Conv,
  customer: CustomerConfig,
  lane: Lane,
) => RuleDecision;

/**
 * May the conversation wait for this agent? Only for one at work (online: busy or wrapping up, not on a
 * break or logged off, SPEC §3.5: nothing stuck on an absent agent) who could take it once a seat frees
 * up: a member of the lane, with seats on its channel and the conversation's own skills (`Conv.adHoc`,
 * current when the rules run). Holding the customer for anyone else would keep them waiting the whole
 * budget for nothing, while agents who can serve them sit idle. Also asked of a held conversation when
 * its agent changes (`Partition.heldToRelease`).
 */
export function canWaitFor(agent: Agent, lane: Lane, conv: Conv): boolean {
  return (
    agent.presence === 'online' &&
    agent.capOn(lane.ch) > 0 &&
    agent.memberOf(lane) !== undefined &&
    (conv.adHoc === null || agent.satisfies(conv.adHoc))
  );
}
