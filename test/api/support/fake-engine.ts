/**
 * A deliberately small stand-in for the routing engine, used by the API tests only while
 * `src/engine/index.ts` is not in the tree (see `engine-router.ts`). It honours the `Engine` contract
 * the API relies on: envelope-id dedupe, `{ ok: false }` without state change on bad commands, catalogue
 * error codes, first-free-agent assignment, FIFO queueing with positions, and a state digest.
 */
import { createHash } from 'node:crypto';
import type { Engine, EngineSnapshot, Query, QueryResult } from '../../../src/engine/api.js';
import type {
  AgentConfig,
  ApplyResult,
  CommandEnvelope,
  ConversationView,
  CustomerConfig,
  EngineEvent,
  Presence,
  QueueConfig,
  RoutingConfig,
} from '../../../src/engine/types.js';

interface State {
  agents: Record<string, { config: AgentConfig; presence: Presence; open: string[]; handled: number }>;
  queues: Record<
    string,
    { config: QueueConfig; waiting: string[]; inbound: number; assigned: number; abandoned: number }
  >;
  customers: Record<string, CustomerConfig>;
  conversations: Record<string, ConversationView>;
  routing: RoutingConfig;
  now: number;
}

const fail = (code: string, message: string, field?: string): ApplyResult => ({
  ok: false,
  error: field === undefined ? { code, message } : { code, message, field },
});

export function createFakeEngine(partition: string): Engine {
  const s: State = {
    agents: {},
    queues: {},
    customers: {},
    conversations: {},
    routing: {
      maxMissedOffers: 3,
      agingPerMinute: 0,
      slaDrivenPriority: false,
      queueRules: [],
      slaAtRiskMargin: 0.05,
    },
    now: 0,
  };
  const seen = new Map<string, ApplyResult>();

  const freeAgent = (q: QueueConfig): string | null => {
    for (const id of Object.keys(s.agents).sort()) {
      const a = s.agents[id]!;
      const cap = a.config.capacity[q.channel] ?? 0;
      const skilled = q.requiredSkills.every((r) =>
        a.config.skills.some((k) => k.skill === r.skill && k.level >= r.minLevel),
      );
      if (a.presence === 'online' && a.open.length < cap && skilled) return id;
    }
    return null;
  };

  const assign = (convId: string, agentId: string, queueId: string, events: EngineEvent[]) => {
    const a = s.agents[agentId]!;
    const c = s.conversations[convId]!;
    a.open.push(convId);
    c.status = 'assigned';
    c.agentId = agentId;
    c.participants = [agentId];
    c.position = null;
    c.estimatedWaitMs = null;
    c.explanation = {
      rule: 'strategy',
      strategy: 'least_busy',
      queueId,
      candidates: 1,
      relaxed: [],
      waitedMs: 0,
    };
    s.queues[queueId]!.assigned++;
    events.push({
      type: 'assigned',
      conversationId: convId,
      agentId,
      agentName: a.config.displayName,
      queueId,
      expectedResponseMs: 0,
      explanation: c.explanation,
    });
  };

  const drain = (events: EngineEvent[]) => {
    for (const q of Object.values(s.queues)) {
      while (q.waiting.length > 0) {
        const agentId = freeAgent(q.config);
        if (agentId === null) break;
        assign(q.waiting.shift()!, agentId, q.config.id, events);
      }
    }
  };

  const apply = (env: CommandEnvelope): ApplyResult => {
    const cmd = env.cmd;
    const events: EngineEvent[] = [];
    switch (cmd.type) {
      case 'upsert_agent': {
        const old = s.agents[cmd.agent.id];
        s.agents[cmd.agent.id] = {
          config: cmd.agent,
          presence: old?.presence ?? 'offline',
          open: old?.open ?? [],
          handled: old?.handled ?? 0,
        };
        drain(events);
        break;
      }
      case 'remove_agent':
        if (!s.agents[cmd.agentId])
          return fail('SB_ERR_AGENT_NOT_FOUND', `no agent ${cmd.agentId}`, 'agentId');
        delete s.agents[cmd.agentId];
        break;
      case 'upsert_queue': {
        const old = s.queues[cmd.queue.id];
        s.queues[cmd.queue.id] = {
          config: cmd.queue,
          waiting: old?.waiting ?? [],
          inbound: old?.inbound ?? 0,
          assigned: old?.assigned ?? 0,
          abandoned: old?.abandoned ?? 0,
        };
        drain(events);
        break;
      }
      case 'remove_queue': {
        const q = s.queues[cmd.queueId];
        if (!q) return fail('SB_ERR_QUEUE_NOT_FOUND', `no queue ${cmd.queueId}`, 'queueId');
        if (q.waiting.length > 0) return fail('SB_ERR_QUEUE_IN_USE', 'conversations wait in it');
        delete s.queues[cmd.queueId];
        break;
      }
      case 'upsert_customer':
        s.customers[cmd.customer.id] = cmd.customer;
        break;
      case 'set_routing_config':
        s.routing = cmd.config;
        break;
      case 'set_presence': {
        const a = s.agents[cmd.agentId];
        if (!a) return fail('SB_ERR_AGENT_NOT_FOUND', `no agent ${cmd.agentId}`, 'agentId');
        a.presence = cmd.presence;
        events.push({
          type: 'presence_changed',
          agentId: cmd.agentId,
          presence: cmd.presence,
          reason: 'agent',
        });
        drain(events);
        break;
      }
      case 'accept_offer':
      case 'reject_offer':
        if (!s.agents[cmd.agentId])
          return fail('SB_ERR_AGENT_NOT_FOUND', `no agent ${cmd.agentId}`, 'agentId');
        return fail('SB_ERR_NO_OFFER', 'no pending offer');
      case 'enqueue': {
        const c = cmd.conversation;
        if (s.conversations[c.id]) return fail('SB_ERR_CONVERSATION_EXISTS', 'id in use', 'conversation.id');
        const queueId = c.queueId ?? s.routing.queueRules.find((r) => r.channel === c.channel)?.queueId;
        if (queueId === undefined) return fail('SB_ERR_NO_QUEUE_MATCHES', 'no queue');
        const q = s.queues[queueId];
        if (!q) return fail('SB_ERR_QUEUE_NOT_FOUND', `no queue ${queueId}`, 'conversation.queueId');
        s.conversations[c.id] = {
          id: c.id,
          channel: c.channel,
          customerId: c.customer.id,
          queueId,
          priority: c.priority,
          status: 'waiting',
          createdAt: env.at,
          agentId: null,
          participants: [],
          offeredTo: [],
          outcome: null,
          explanation: null,
          position: null,
          estimatedWaitMs: null,
        };
        q.inbound++;
        const agentId = freeAgent(q.config);
        if (agentId !== null) {
          assign(c.id, agentId, queueId, events);
          const name = s.agents[agentId]!.config.displayName;
          return remember(env, {
            ok: true,
            reply: {
              kind: 'enqueued',
              conversationId: c.id,
              status: 'assigned',
              queueId,
              agentId,
              agentName: name,
            },
            events,
          });
        }
        q.waiting.push(c.id);
        const position = q.waiting.length;
        const conv = s.conversations[c.id]!;
        conv.position = position;
        conv.estimatedWaitMs = position * 60_000;
        events.push({
          type: 'queued',
          conversationId: c.id,
          queueId,
          position,
          estimatedWaitMs: position * 60_000,
        });
        return remember(env, {
          ok: true,
          reply: {
            kind: 'enqueued',
            conversationId: c.id,
            status: 'queued',
            queueId,
            position,
            estimatedWaitMs: position * 60_000,
          },
          events,
        });
      }
      case 'cancel': {
        const c = s.conversations[cmd.conversationId];
        if (!c) return fail('SB_ERR_CONVERSATION_NOT_FOUND', 'no conversation', 'conversationId');
        if (c.status !== 'waiting') return fail('SB_ERR_INVALID_STATE', `conversation is ${c.status}`);
        const q = s.queues[c.queueId]!;
        q.waiting = q.waiting.filter((id) => id !== c.id);
        q.abandoned++;
        c.status = 'abandoned';
        c.position = null;
        events.push({
          type: 'abandoned',
          conversationId: c.id,
          queueId: c.queueId,
          waitedMs: env.at - c.createdAt,
        });
        break;
      }
      case 'end_conversation': {
        const c = s.conversations[cmd.conversationId];
        if (!c) return fail('SB_ERR_CONVERSATION_NOT_FOUND', 'no conversation', 'conversationId');
        if (c.status !== 'assigned' || c.agentId === null)
          return fail('SB_ERR_INVALID_STATE', `conversation is ${c.status}`);
        const a = s.agents[c.agentId]!;
        a.open = a.open.filter((id) => id !== c.id);
        a.handled++;
        c.status = 'closed';
        c.outcome = cmd.outcome;
        events.push({
          type: 'conversation_ended',
          conversationId: c.id,
          agentId: c.agentId,
          queueId: c.queueId,
          outcome: cmd.outcome,
          handleMs: 0,
        });
        drain(events);
        break;
      }
      case 'assign': {
        const c = s.conversations[cmd.conversationId];
        if (!c) return fail('SB_ERR_CONVERSATION_NOT_FOUND', 'no conversation', 'conversationId');
        if (!s.agents[cmd.agentId])
          return fail('SB_ERR_AGENT_NOT_FOUND', `no agent ${cmd.agentId}`, 'agentId');
        return fail('SB_ERR_INVALID_STATE', 'not supported by the fake engine');
      }
      case 'transfer':
      case 'escalate': {
        if (!s.conversations[cmd.conversationId])
          return fail('SB_ERR_CONVERSATION_NOT_FOUND', 'no conversation', 'conversationId');
        return fail('SB_ERR_INVALID_STATE', 'not supported by the fake engine');
      }
      case 'finish_wrap_up':
        if (!s.agents[cmd.agentId])
          return fail('SB_ERR_AGENT_NOT_FOUND', `no agent ${cmd.agentId}`, 'agentId');
        break;
      case 'tick':
        break;
    }
    return remember(env, { ok: true, reply: { kind: 'ok' }, events });
  };

  const remember = (env: CommandEnvelope, r: ApplyResult): ApplyResult => {
    seen.set(env.id, r);
    return r;
  };

  const engine: Engine = {
    partition,
    apply(env) {
      const prior = seen.get(env.id);
      if (prior) return prior.ok ? { ...prior, events: [], duplicate: true } : { ...prior, duplicate: true };
      s.now = Math.max(s.now, env.at);
      return apply(env);
    },
    query(q: Query): QueryResult {
      switch (q.type) {
        case 'conversation':
          return { type: 'conversation', conversation: s.conversations[q.conversationId] ?? null };
        case 'agent':
          return { type: 'agent', agent: s.agents[q.agentId]?.config ?? null };
        case 'queue':
          return { type: 'queue', queue: s.queues[q.queueId]?.config ?? null };
        case 'customer':
          return { type: 'customer', customer: s.customers[q.customerId] ?? null };
        case 'list_agents':
          return { type: 'list_agents', agents: Object.values(s.agents).map((a) => a.config) };
        case 'list_queues':
          return { type: 'list_queues', queues: Object.values(s.queues).map((x) => x.config) };
        case 'routing_config':
          return { type: 'routing_config', config: s.routing };
        case 'lint':
          return { type: 'lint', findings: [] };
        case 'digest':
          return { type: 'digest', digest: engine.digest() };
        case 'queue_stats':
        case 'all_queue_stats': {
          const stats = (x: State['queues'][string]) => ({
            queueId: x.config.id,
            waiting: x.waiting.length,
            longestWaitMs: 0,
            agentsOnline: 0,
            agentsAvailable: 0,
            serviceLevel: null,
            averageWaitMs: 0,
            abandonmentRate: 0,
            averageHandleMs: 0,
            inbound: x.inbound,
            assigned: x.assigned,
            abandoned: x.abandoned,
            transferred: 0,
          });
          if (q.type === 'all_queue_stats')
            return { type: 'all_queue_stats', stats: Object.values(s.queues).map(stats) };
          const x = s.queues[q.queueId];
          return { type: 'queue_stats', stats: x ? stats(x) : null };
        }
        case 'agent_stats': {
          const a = s.agents[q.agentId];
          return {
            type: 'agent_stats',
            stats: a
              ? {
                  agentId: q.agentId,
                  presence: a.presence,
                  busy: false,
                  handled: a.handled,
                  open: a.open.length,
                  averageHandleMs: 0,
                  missedOffers: 0,
                  consecutiveMisses: 0,
                  occupancy: 0,
                }
              : null,
          };
        }
      }
    },
    nextTimerAt: () => null,
    snapshot: (): EngineSnapshot => ({ version: 0, partition, state: structuredClone(s) }),
    digest: () => createHash('sha256').update(JSON.stringify(s)).digest('hex'),
    get now() {
      return s.now;
    },
  };
  return engine;
}
