/**
 * State checks that ask the engine through its queries (what a supervisor dashboard would read) and compare
 * with the event-built `RoutingModel`.
 */
import type { Engine } from '../../src/engine/api.js';
import type { ConversationView } from '../../src/engine/types.js';
import type { RoutingModel } from './engine-model.js';

function view(engine: Engine, id: string, at: number): ConversationView | null {
  const r = engine.query({ type: 'conversation', conversationId: id }, at);
  return r.type === 'conversation' ? r.conversation : null;
}

/**
 * Conversations the engine shows as waiting although some agent is online, out of wrap-up, serves the queue,
 * holds the (unrelaxed) skills, has not missed it and has free capacity on its channel. Manual queues and
 * queues with business hours wait on purpose and are left out.
 */
export function stuckConversations(engine: Engine, model: RoutingModel, at: number): string[] {
  const stuck: string[] = [];
  for (const c of model.conversations.values()) {
    if (c.state === 'done') continue;
    const v = view(engine, c.id, at);
    if (v?.status !== 'waiting') continue;
    const q = model.queues.get(v.queueId);
    if (!q || q.strategy === 'manual' || q.businessHours) continue;
    for (const agentId of model.agents.keys()) {
      if (model.eligible(agentId, { ...c, queueId: v.queueId }, false) !== null) continue;
      const load = model.load(agentId, c.channel);
      const cap = model.capacity(agentId, c.channel);
      if (load < cap) {
        stuck.push(
          `${c.id} waits in ${v.queueId} while ${agentId} is eligible with ${c.channel} load ${load}/${cap}`,
        );
      }
    }
  }
  return stuck;
}

const DONE = new Set(['wrap_up', 'closed', 'abandoned']);

/** Differences between the conversation read model and what the events said. */
export function readModelMismatches(engine: Engine, model: RoutingModel, at: number): string[] {
  const out: string[] = [];
  // Who holds what, per the conversation views: each agent's listing (a desktop reconnecting) must match.
  const holders = new Map<string, string[]>();
  for (const c of model.conversations.values()) {
    const v = view(engine, c.id, at);
    if (!v) {
      out.push(`${c.id}: enqueued but the conversation query returns nothing`);
      continue;
    }
    if (v.status === 'assigned') {
      for (const a of v.participants) {
        const held = holders.get(a);
        if (held) held.push(v.id);
        else holders.set(a, [v.id]);
      }
    }
    const sameState = c.state === 'done' ? DONE.has(v.status) : v.status === c.state;
    if (!sameState) out.push(`${c.id}: events say ${c.state}, query says ${v.status}`);
    if (c.state === 'assigned' && v.agentId !== c.owner) {
      out.push(`${c.id}: events say owner ${c.owner}, query says ${v.agentId}`);
    }
    if (c.state !== 'done') {
      const offered = [...c.offers].sort().join(',');
      const shown = [...v.offeredTo].sort().join(',');
      if (offered !== shown) out.push(`${c.id}: events say offered to [${offered}], query says [${shown}]`);
    }
  }
  for (const agentId of model.agents.keys()) {
    const r = engine.query({ type: 'agent_conversations', agentId }, at);
    if (r.type !== 'agent_conversations' || r.conversations === null) {
      out.push(`${agentId}: the agent's conversations cannot be listed`);
      continue;
    }
    const listed = r.conversations
      .map((v) => v.id)
      .sort()
      .join(',');
    const expected = (holders.get(agentId) ?? []).sort().join(',');
    if (listed !== expected) out.push(`${agentId}: holds [${expected}], the listing says [${listed}]`);
  }
  return out;
}
