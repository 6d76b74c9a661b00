/**
 * Command handlers. Each one checks everything that could fail (existence, state) BEFORE changing
 * anything, so a rejected command leaves the partition exactly as it was (same digest).
 */
import type { ErrorCode } from '../errors/catalogue.js';
import {
  type Agent,
  CHANNEL_INDEX,
  Conv,
  type Lane,
  laneOf,
  NO_PENDING,
  NO_QORD,
  NO_SKILLS,
  NONE,
  type Queue,
} from './model.js';
import { normAgent, normCustomer, normQueue, normRouting } from './normalize.js';
import type { ConvRouteStatus, Partition } from './partition.js';
import type {
  AgentConfig,
  Command,
  ConversationRequest,
  CustomerConfig,
  EngineError,
  Outcome,
  Presence,
  QueueConfig,
  Reply,
  RoutingConfig,
  SkillRequirement,
} from './types.js';
import { CHANNELS } from './types.js';
import { WaitSet } from './wait-set.js';
import { F } from './window.js';

const OK: Reply = { kind: 'ok' };

export class Rejection {
  constructor(readonly error: EngineError) {}
}

function reject(code: ErrorCode, message: string, field?: string): never {
  throw new Rejection(field === undefined ? { code, message } : { code, message, field });
}

function mustAgent(p: Partition, id: string, field = 'agentId'): Agent {
  const a = p.agents.get(id);
  if (!a) reject('SB_ERR_AGENT_NOT_FOUND', `no agent "${id}"`, field);
  return a;
}

/**
 * The open conversation `id`. One the partition remembers as closed is a state error (`INVALID_STATE`,
 * as the caller's request came too late), one it never saw is `NOT_FOUND` — the same split for every
 * command about a conversation.
 */
function mustConv(p: Partition, id: string, field = 'conversationId'): Conv {
  const c = p.convs.get(id);
  if (!c) {
    if (p.recent.has(id)) reject('SB_ERR_INVALID_STATE', `conversation "${id}" is already closed`, field);
    reject('SB_ERR_CONVERSATION_NOT_FOUND', `no conversation "${id}"`, field);
  }
  return c;
}

/** Applies a validated command. Throws `Rejection` before any mutation when the command cannot apply. */
export function execute(p: Partition, cmd: Command, at: number, limit?: number): Reply {
  p.clockAt = Math.max(p.now, at);
  if (cmd.type === 'tick') return tick(p, p.clockAt);
  p.now = p.clockAt;
  switch (cmd.type) {
    case 'upsert_agent':
      return upsertAgent(p, normAgent(cmd.agent), limit);
    case 'remove_agent':
      return removeAgent(p, cmd.agentId);
    case 'upsert_queue':
      return upsertQueue(p, normQueue(cmd.queue), limit);
    case 'remove_queue':
      return removeQueue(p, cmd.queueId);
    case 'upsert_customer':
      return upsertCustomer(p, normCustomer(cmd.customer));
    case 'remove_customer':
      p.forgetCustomer(cmd.customerId);
      return OK;
    case 'set_routing_config':
      return setRouting(p, normRouting(cmd.config));
    case 'set_presence':
      return setPresence(p, mustAgent(p, cmd.agentId), cmd.presence);
    case 'accept_offer':
      return acceptOffer(p, cmd.agentId, cmd.conversationId);
    case 'reject_offer':
      return rejectOffer(p, cmd.agentId, cmd.conversationId);
    case 'enqueue':
      return enqueue(p, cmd.conversation);
    case 'cancel':
      return cancel(p, cmd.conversationId);
    case 'transfer':
      return transfer(p, cmd.conversationId, cmd.toQueueId, cmd.toAgentId);
    case 'escalate':
      return escalate(p, cmd.conversationId, cmd.toAgentId, cmd.toTier);
    case 'assign':
      return manualAssign(p, cmd.conversationId, cmd.agentId);
    case 'end_conversation':
      return endConversation(p, cmd.conversationId, cmd.outcome);
    case 'finish_wrap_up': {
      const a = mustAgent(p, cmd.agentId);
      if (a.wrapUntil === 0) reject('SB_ERR_INVALID_STATE', `agent "${a.id}" is not in wrap-up`, 'agentId');
      endWrap(p, a);
      return OK;
    }
  }
}

// ------------------------------------------------------------------ configuration

function upsertAgent(p: Partition, cfg: AgentConfig, limit: number | undefined): Reply {
  const a = p.agents.get(cfg.id);
  if (!a) {
    if (limit !== undefined && p.agents.size >= limit) {
      reject(
        'SB_ERR_TENANT_LIMIT_REACHED',
        `the tenant has ${p.agents.size} agents, the most this node allows (--max-agents-per-tenant ${limit}); remove one first`,
        'agent.id',
      );
    }
    p.addAgent(cfg);
    return OK;
  }
  p.reconfigureAgent(a, cfg);
  // Pending offers the agent can no longer take (a skill or lane lost, seats beyond its new capacity) go
  // back to routing; the others ring on untouched (`offersBeyondReach` says which and why). With them, the
  // customers held for it it can no longer take: all routed together, best first.
  const lost = p.offersBeyondReach(a);
  for (const c of lost) withdraw(p, c, a, 'agent_unavailable');
  p.routeAgain([...lost, ...p.heldToRelease(a)]);
  p.serveAgent(a);
  return OK;
}

function removeAgent(p: Partition, id: string): Reply {
  const a = mustAgent(p, id);
  if (a.open > 0)
    reject('SB_ERR_INVALID_STATE', `agent "${id}" still holds ${a.open} conversation(s)`, 'agentId');
  a.accrue(p.now);
  const wasOffline = a.presence === 'offline';
  p.detachOnline(a);
  a.presence = 'offline';
  if (!wasOffline)
    p.events.push({ type: 'presence_changed', agentId: id, presence: 'offline', reason: 'removed' });
  p.refreshAgent(a);
  for (const m of [...a.members]) p.removeMember(m);
  const wrapping = a.wrapUntil !== 0;
  if (a.wrapPos >= 0) p.wraps.remove(a);
  a.wrapUntil = 0;
  // Its wrap-up ends with it: what it was wrapping up counts for the queues now, and a desk showing the
  // wrap-up hears it ended, as for any other end of a wrap-up.
  p.endPendingHandles(a);
  if (wrapping) p.events.push({ type: 'wrap_up_ended', agentId: id });
  p.countSkills(a, -1);
  p.indexTier(a, false);
  p.agents.delete(id);
  p.idsChanged();
  a.removed = true;
  const offered = takeOffers(p, a, 'agent_unavailable');
  p.routeAgain([...offered, ...p.heldToRelease(a)]);
  // Last: the steps above still read and write its record (accrued time, loads).
  a.release();
  return OK;
}

function upsertQueue(p: Partition, cfg: QueueConfig, limit: number | undefined): Reply {
  const old = p.queues.get(cfg.id);
  if (!old && limit !== undefined && p.queues.size >= limit) {
    reject(
      'SB_ERR_TENANT_LIMIT_REACHED',
      `the tenant has ${p.queues.size} queues, the most this node allows (--max-queues-per-tenant ${limit}); remove one first`,
      'queue.id',
    );
  }
  if (old && old.cfg.channel !== cfg.channel && old.active > 0)
    reject(
      'SB_ERR_QUEUE_IN_USE',
      `queue "${cfg.id}" has open conversations; its channel cannot change`,
      'queue.channel',
    );
  if (!old) {
    const q = p.makeQueue(cfg);
    q.window.advance(p.now);
    p.queues.set(cfg.id, q);
    p.idsChanged();
    p.buildLanes(q);
  } else {
    rebuildQueue(p, old.id, cfg);
  }
  // Queues that widen into this one build a clause from its requirements: their widened lanes may now
  // admit idle agents, so they are drained too (in queue order, after this one).
  const widening: string[] = [];
  for (const other of [...p.queues.values()]) {
    if (other.id === cfg.id) continue;
    if (other.cfg.overflow.some((s) => s.action.kind === 'widen_to_queue' && s.action.queueId === cfg.id)) {
      rebuildQueue(p, other.id, other.cfg);
      widening.push(other.id);
    }
  }
  p.hours.delete(cfg.id);
  const rebuilt = [cfg.id, ...widening];
  const { freed, lost } = old ? withdrawIneligible(p, rebuilt) : { freed: [], lost: [] };
  // The withdrawn offers and the released customers go into their lines first, so the drains serve them
  // with those already waiting, best first (effective priority, then age): routed before, they took the
  // newly admitted agents whatever waited; routed after, they waited behind lower priorities.
  const back: Conv[] = [...lost];
  for (const id of rebuilt) back.push(...p.heldToReleaseIn(p.queues.get(id)!));
  const filed = p.fileAgain(back);
  drain(p, cfg.id);
  for (const id of widening) drain(p, id);
  p.noticeAgain(filed);
  // Agents whose offers were withdrawn take work of their other queues too.
  for (const a of freed) p.serveAgent(a);
  // Its maximum size may have changed (the state was kept while the lanes were rebuilt), and its service
  // level with a new target, threshold or window (a new window starts empty): judged again now, or a
  // breached queue stays breached with nothing left in its window to judge.
  const q = p.queues.get(cfg.id)!;
  p.checkCapacity(q);
  p.evaluateSla(q);
  return OK;
}

/** Rebuilds a queue's lanes (config change), keeping waiting conversations and round-robin turns. */
function rebuildQueue(p: Partition, id: string, cfg: QueueConfig): void {
  const q = p.queues.get(id)!;
  const turns = new Map<string, number>();
  for (const lane of q.lanes)
    for (const m of lane.members) if (m.turn > 0) turns.set(`${lane.step}|${m.agent.id}`, m.turn);
  const counters = q.lanes.map((l) => l.turnCounter);
  const waiting = p.teardownLanes(q);
  // The held and offered conversations' past-threshold counts are for the old threshold: file them afresh.
  const held = q.held.all();
  q.held = new WaitSet();
  for (const c of held) q.held.push(c);
  const offered = q.offered.all();
  q.offered = new WaitSet();
  for (const c of offered) q.offered.push(c);
  // The old lanes' ring heaps go with them: the positions are filed afresh below.
  for (const c of offered) c.rpos = -1;
  const windowChanged = q.cfg.serviceLevel.windowSeconds !== cfg.serviceLevel.windowSeconds;
  const fresh = p.makeQueue(cfg);
  q.cfg = cfg;
  q.strategy = fresh.strategy;
  q.ch = CHANNEL_INDEX[cfg.channel];
  if (windowChanged) {
    q.window = fresh.window;
    q.window.advance(p.now);
    // Its samples are gone, the earliest expiry among them may have been the partition's.
    p.recomputeSlaNext();
  }
  p.buildLanes(q);
  q.lanes.forEach((lane, i) => {
    lane.turnCounter = counters[i] ?? 0;
    for (const m of lane.members) m.turn = turns.get(`${lane.step}|${m.agent.id}`) ?? 0;
    lane.pool.rebuild();
  });
  // The step counter refers to the old overflow list: keep at most the steps of the new list that are
  // already due (the others apply when due), for every open conversation of the queue. O(open
  // conversations), a configuration-time cost.
  for (const c of p.convs.values()) {
    if (c.queue !== q) continue;
    c.step = Math.min(c.step, dueSteps(cfg, c.enqueuedAt, p.now));
    if (c.lane === null) p.reschedule(c);
  }
  for (const c of waiting) {
    p.setAdHoc(c);
    p.insertWaiting(c, laneOf(c));
    p.reschedule(c);
  }
  // Into the new lanes (a heap's order does not depend on the order pushed, so neither do decisions),
  // with the requirements of the steps kept: agents who join a ring are matched against them.
  for (const c of offered) {
    p.setAdHoc(c);
    p.fileRing(c);
  }
}

function dueSteps(cfg: QueueConfig, since: number, now: number): number {
  let n = 0;
  while (n < cfg.overflow.length && since + cfg.overflow[n]!.afterSeconds * 1000 <= now) n++;
  return n;
}

/** After a config change, available agents of the queue pull waiting work (agent order by seq). */
function drain(p: Partition, queueId: string): void {
  const q = p.queues.get(queueId);
  // A broadcast may have room for more desks now (a wider width): available agents join it.
  if (!q || (q.waiting === 0 && !q.lanes.some((l) => l.ringMask !== 0))) return;
  const agents = new Set<Agent>();
  for (const lane of q.lanes) for (const m of lane.pool.items) agents.add(m.agent);
  for (const a of [...agents].sort((x, y) => x.seq - y.seq)) p.serveAgent(a);
}

function removeQueue(p: Partition, id: string): Reply {
  const q = p.queues.get(id);
  if (!q) reject('SB_ERR_QUEUE_NOT_FOUND', `no queue "${id}"`, 'queueId');
  if (q.active > 0)
    reject('SB_ERR_QUEUE_IN_USE', `queue "${id}" has ${q.active} open conversation(s)`, 'queueId');
  for (const other of p.queues.values()) {
    if (other.cfg.overflow.some((s) => s.action.kind === 'widen_to_queue' && s.action.queueId === id))
      reject('SB_ERR_QUEUE_IN_USE', `queue "${other.id}" overflows into "${id}"`, 'queueId');
  }
  if (p.config.queueRules.some((r) => r.queueId === id))
    reject('SB_ERR_QUEUE_IN_USE', `a queue rule routes to "${id}"`, 'queueId');
  p.teardownLanes(q);
  p.queues.delete(id);
  p.idsChanged();
  p.hours.delete(id);
  p.recomputeSlaNext();
  return OK;
}

function upsertCustomer(p: Partition, cfg: CustomerConfig): Reply {
  p.customers.upsert(cfg);
  return OK;
}

function setRouting(p: Partition, cfg: RoutingConfig): Reply {
  p.config = cfg;
  // A new at-risk margin moves the at-risk boundary of every queue.
  for (const q of p.queues.values()) p.evaluateSla(q);
  return OK;
}

// ------------------------------------------------------------------ presence

/**
 * `again`: the conversations the agent's leaving sends back to routing (its withdrawn offers, the
 * customers held for it) are added to it for the caller to route with its own (`miss`: the offer it
 * missed) instead of being routed here.
 */
export function setPresence(
  p: Partition,
  a: Agent,
  presence: Presence,
  reason: 'agent' | 'missed_offers' = 'agent',
  again: Conv[] | null = null,
): Reply {
  if (a.presence === presence) return OK;
  a.accrue(p.now);
  p.detachOnline(a);
  a.presence = presence;
  p.attachOnline(a);
  p.events.push({ type: 'presence_changed', agentId: a.id, presence, reason });
  if (presence === 'online') {
    a.idleSince = p.now;
    a.consecutiveMisses = 0;
    for (const m of a.members) m.lane.queue.strategy.returned?.(m, m.lane.queue.cfg);
    p.serveAgent(a);
    return OK;
  }
  p.refreshAgent(a);
  const offered = takeOffers(p, a, 'agent_unavailable');
  // Away or offline alike: a customer held for an absent agent would wait out the budget for nobody.
  // Routed with the withdrawn offers, best first (`Partition.routeAgain`).
  const held = p.heldToRelease(a);
  if (again) again.push(...offered, ...held);
  else p.routeAgain([...offered, ...held]);
  return OK;
}

/** Withdraws every pending offer the agent holds (oldest conversation first); returns them. */
function takeOffers(p: Partition, a: Agent, reason: 'agent_unavailable' | 'cancelled'): Conv[] {
  const convs = a.offers.map((id) => p.convs.get(id)!).sort((x, y) => x.seq - y.seq);
  for (const c of convs) withdraw(p, c, a, reason);
  return convs;
}

function withdraw(
  p: Partition,
  c: Conv,
  a: Agent,
  reason: 'agent_unavailable' | 'cancelled' | 'accepted_elsewhere',
): void {
  a.accrue(p.now);
  a.addLoad(c.queue.ch, -1);
  a.offers.splice(a.offers.indexOf(c.id), 1);
  c.offers.splice(c.offers.indexOf(a.id), 1);
  p.fileRing(c);
  p.events.push({
    type: 'offer_rescinded',
    conversationId: c.id,
    agentId: a.id,
    queueId: c.queue.id,
    reason,
  });
  p.refreshAgent(a);
}

/**
 * After queue `ids` were rebuilt (a configuration change): offers to agents their lanes no longer admit,
 * or who lack the conversation's own skills under the new requirements, are withdrawn; every other offer
 * rings on as it was. Returns the agents freed (by seq) and the conversations withdrawn, for the caller
 * to route again with the queues' lines (`Partition.fileAgain`).
 */
function withdrawIneligible(p: Partition, ids: string[]): { freed: Agent[]; lost: Conv[] } {
  const convs: Conv[] = [];
  for (const id of ids) for (const c of p.queues.get(id)!.offered.all()) convs.push(c);
  if (convs.length === 0) return { freed: [], lost: [] };
  convs.sort((x, y) => x.seq - y.seq);
  const freed = new Set<Agent>();
  const lost: Conv[] = [];
  for (const c of convs) {
    for (const aid of c.offers.slice()) {
      const a = p.agents.get(aid)!;
      if (p.mayKeepOffer(a, c)) continue;
      withdraw(p, c, a, 'agent_unavailable');
      freed.add(a);
      lost.push(c);
    }
  }
  return { freed: [...freed].sort((x, y) => x.seq - y.seq), lost };
}

// ------------------------------------------------------------------ offers

function offerOf(p: Partition, agentId: string, convId: string): { a: Agent; c: Conv } {
  const a = mustAgent(p, agentId);
  const c = mustConv(p, convId);
  if (c.status !== 'offered' || !c.offers.includes(agentId))
    reject('SB_ERR_NO_OFFER', `agent "${agentId}" holds no offer for "${convId}"`, 'conversationId');
  return { a, c };
}

function acceptOffer(p: Partition, agentId: string, convId: string): Reply {
  // A desktop that timed out retries its accept, often under a new request id: telling the agent the
  // offer was lost while they own the conversation would be wrong (agent_desk.proto calls a second
  // accept harmless). Only an assignment made by routing can have come from an offer; one made by a
  // supervisor or a transfer did not, so an accept of it still finds no offer.
  const held = p.convs.get(convId);
  if (held?.status === 'assigned' && held.agentId === agentId && fromRouting(held)) return OK;
  const { a, c } = offerOf(p, agentId, convId);
  // Timers fire on the host's next tick; an accept stamped after the expiry but arriving before that
  // tick is late all the same (the tick will count the miss and route the conversation on).
  if (c.offerExpiresAt !== 0 && p.now >= c.offerExpiresAt)
    reject('SB_ERR_NO_OFFER', `the offer of "${convId}" to agent "${agentId}" has expired`, 'conversationId');
  if (a.loadOn(c.queue.ch) > a.capOn(c.queue.ch)) noSeat(a, c.queue.ch, 'agentId');
  const others = c.offers.filter((id) => id !== agentId).map((id) => p.agents.get(id)!);
  for (const o of others) withdraw(p, c, o, 'accepted_elsewhere');
  a.consecutiveMisses = 0;
  a.offers.splice(a.offers.indexOf(c.id), 1);
  p.assign(c, a, p.acceptedExplanation(c), true);
  p.refreshAgent(a);
  for (const o of others) p.serveAgent(o);
  return OK;
}

function fromRouting(c: Conv): boolean {
  const rule = c.explanation?.rule;
  return rule !== undefined && rule !== 'manual_assign' && rule !== 'transfer';
}

function rejectOffer(p: Partition, agentId: string, convId: string): Reply {
  const { a, c } = offerOf(p, agentId, convId);
  miss(p, a, c, 'rejected');
  return OK;
}

/**
 * A rejected or timed-out offer: count the miss, maybe set the agent away, re-route, refill the agent.
 * The missed conversation and, if the agent was set away, its other offers and the customers held for it
 * are routed again together, best first (`Partition.routeAgain`). `again` given: more desks of the same
 * ring are being missed at once (a timeout); those conversations are added to it instead, and the caller
 * routes them with the missed one and then refills the desks.
 */
export function miss(
  p: Partition,
  a: Agent,
  c: Conv,
  reason: 'rejected' | 'timeout',
  again: Conv[] | null = null,
): void {
  a.accrue(p.now);
  a.addLoad(c.queue.ch, -1);
  a.offers.splice(a.offers.indexOf(c.id), 1);
  c.offers.splice(c.offers.indexOf(a.id), 1);
  p.fileRing(c);
  c.excluded = c.excluded ? [...c.excluded, a.id] : [a.id];
  a.consecutiveMisses++;
  a.missedTotal++;
  p.events.push({
    type: 'offer_missed',
    conversationId: c.id,
    agentId: a.id,
    queueId: c.queue.id,
    reason,
    consecutiveMisses: a.consecutiveMisses,
  });
  p.refreshAgent(a);
  const k = p.config.maxMissedOffers;
  const away = k > 0 && a.consecutiveMisses >= k && a.presence === 'online';
  const back = again ?? [];
  if (away) {
    p.events.push({ type: 'alert', alert: 'agent_missed_offers', agentId: a.id, value: a.consecutiveMisses });
    setPresence(p, a, 'away', 'missed_offers', back);
  }
  if (again !== null) return;
  back.push(c);
  p.routeAgain(back);
  p.serveAgent(a);
}

// ------------------------------------------------------------------ conversations

function sameRequest(c: Conv, r: ConversationRequest): boolean {
  if (c.channel !== r.channel || c.customerId !== r.customer.id || c.priority !== r.priority) return false;
  if (c.topic !== r.topic || c.requestedQueueId !== r.queueId || c.valueTier !== r.customer.valueTier)
    return false;
  if (c.requiredSkills.length !== r.requiredSkills.length) return false;
  // A set (names are unique): a gateway building the list from a map may retry it in another order.
  // The stored order is the first request's, unchanged, so replays of existing logs rebuild the same state.
  return r.requiredSkills.every((x) =>
    c.requiredSkills.some((s) => s.skill === x.skill && s.minLevel === x.minLevel),
  );
}

function enqueue(p: Partition, r: ConversationRequest): Reply {
  const existing = p.convs.get(r.id);
  if (existing) {
    if (!sameRequest(existing, r))
      reject(
        'SB_ERR_CONVERSATION_EXISTS',
        `conversation "${r.id}" exists with different content`,
        'conversation.id',
      );
    return statusReply(p, existing);
  }
  const closed = p.recent.get(r.id);
  if (closed)
    reject('SB_ERR_CONVERSATION_EXISTS', `conversation "${r.id}" was already handled`, 'conversation.id');
  let queueId = r.queueId;
  if (queueId === undefined) {
    const names = r.requiredSkills.map((s) => s.skill);
    const rule = p.config.queueRules.find(
      (x) =>
        p.queues.has(x.queueId) &&
        (x.channel === undefined || x.channel === r.channel) &&
        (x.topic === undefined || x.topic === r.topic) &&
        (x.skills === undefined || x.skills.every((s) => names.includes(s))),
    );
    if (!rule)
      reject('SB_ERR_NO_QUEUE_MATCHES', 'no queue given and no queue rule matches', 'conversation.queueId');
    queueId = rule.queueId;
  }
  const q = p.queues.get(queueId);
  if (!q) reject('SB_ERR_QUEUE_NOT_FOUND', `no queue "${queueId}"`, 'conversation.queueId');
  if (q.cfg.channel !== r.channel)
    reject(
      'SB_ERR_INVALID_ARGUMENT',
      `queue "${q.id}" serves ${q.cfg.channel}, not ${r.channel}`,
      'conversation.channel',
    );

  // Validation is complete: from here on the command applies. The customer is created at first contact.
  const customer = p.customers.contact(r.customer.id);
  const isNew = customer.previousAgents.length === 0;
  const reqs =
    r.requiredSkills.length === 0
      ? NO_SKILLS
      : r.requiredSkills.map((s) => ({ skill: s.skill, minLevel: s.minLevel }));
  const c = new Conv(
    r.id,
    ++p.convSeq,
    q.cfg.channel,
    customer.id,
    r.customer.valueTier,
    r.priority,
    reqs,
    r.topic,
    // Share the queue's own id string rather than keep the request's copy alive.
    r.queueId === undefined ? undefined : q.id,
    q,
    p.now,
  );
  c.newCustomer = isNew;
  c.customerEntry = p.customers.contactEntry;
  p.convs.set(c.id, c);
  q.active++;
  q.inbound++;
  const st = p.route(c, true, true, customer);
  return statusReply(p, c, st);
}

function statusReply(p: Partition, c: Conv, routed?: ConvRouteStatus): Reply {
  if (c.status === 'assigned' || c.status === 'wrap_up' || c.status === 'closed') {
    const a = c.agent ?? undefined;
    return {
      kind: 'enqueued',
      conversationId: c.id,
      status: 'assigned',
      queueId: c.queue.id,
      agentId: c.agentId ?? undefined,
      agentName: a?.displayName,
    };
  }
  if (c.status === 'offered')
    // The gateway needs to know whose desk rings; a broadcast rings several, ranked, and names the first.
    return {
      kind: 'enqueued',
      conversationId: c.id,
      status: 'offered',
      queueId: c.queue.id,
      agentId: c.offers[0],
    };
  const pos = p.position(c);
  const est = p.estimate(c, pos);
  const st = routed ?? p.waitingStatus(c);
  if (st === 'outside_hours')
    return {
      kind: 'enqueued',
      conversationId: c.id,
      status: st,
      queueId: c.queue.id,
      position: pos,
      estimatedWaitMs: est,
      nextOpenAt: p.nextOpenOf(c),
    };
  return {
    kind: 'enqueued',
    conversationId: c.id,
    status: st === 'over_capacity' ? 'over_capacity' : 'queued',
    queueId: c.queue.id,
    position: pos,
    estimatedWaitMs: est,
  };
}

function cancel(p: Partition, id: string): Reply {
  const c = mustConv(p, id);
  if (c.status === 'assigned')
    reject('SB_ERR_INVALID_STATE', `conversation "${id}" is with an agent; end it instead`, 'conversationId');
  const freed = c.offers.map((aid) => p.agents.get(aid)!);
  for (const a of freed) withdraw(p, c, a, 'cancelled');
  p.unoffer(c);
  p.removeWaiting(c);
  p.unreserve(c);
  const q = c.queue;
  const waited = p.now - c.enqueuedAt;
  c.status = 'abandoned';
  q.abandoned++;
  // One already answered in this queue (transferred back into it) was counted then: its abandonment
  // stays out of the service level and the abandonment rate (it is still an abandonment, above).
  if (!c.answered) {
    p.addSample(q, F.abandoned, 1);
    // Late by the service level's clock: the queue's opening time since the later of arrival and opening.
    if (p.serviceLevelWait(c) > q.cfg.serviceLevel.thresholdSeconds * 1000)
      p.addSample(q, F.abandonedAfterThreshold, 1);
  }
  p.events.push({ type: 'abandoned', conversationId: id, queueId: q.id, waitedMs: waited });
  p.evaluateSla(q);
  p.close(c);
  p.checkCapacity(q);
  for (const a of freed) p.serveAgent(a);
  return OK;
}

/**
 * No free seat on a channel. One the agent never takes (capacity 0) is not eligible: AT_CAPACITY is
 * retryable, and no retry would ever succeed.
 */
function noSeat(a: Agent, ch: number, field: string): never {
  if (a.capOn(ch) === 0)
    reject('SB_ERR_AGENT_NOT_ELIGIBLE', `agent "${a.id}" takes no ${CHANNELS[ch]}`, field);
  reject('SB_ERR_AGENT_AT_CAPACITY', `agent "${a.id}" has no free capacity`, field);
}

function requireAvailable(_p: Partition, a: Agent, ch: number, field: string): void {
  if (a.presence !== 'online' || a.wrapUntil !== 0)
    reject(
      'SB_ERR_AGENT_NOT_ELIGIBLE',
      `agent "${a.id}" is ${a.wrapUntil ? 'in wrap-up' : a.presence}`,
      field,
    );
  if (a.loadOn(ch) >= a.capOn(ch)) noSeat(a, ch, field);
}

/** Detaches a conversation from whoever holds it (waiting slot, reservation, offers, agents). */
function detach(p: Partition, c: Conv, offerReason: 'cancelled' | 'accepted_elsewhere'): Agent[] {
  const freed: Agent[] = [];
  for (const aid of c.offers.slice()) {
    const a = p.agents.get(aid)!;
    withdraw(p, c, a, offerReason);
    freed.push(a);
  }
  p.unoffer(c);
  p.removeWaiting(c);
  p.unreserve(c);
  if (c.status === 'assigned') {
    for (const aid of c.participants) {
      const a = p.agents.get(aid)!;
      a.accrue(p.now);
      a.addLoad(c.queue.ch, -1);
      a.open--;
      p.refreshAgent(a);
      freed.push(a);
    }
    c.participants = NONE;
    c.agent = null;
  }
  return freed;
}

function transfer(p: Partition, id: string, toQueueId?: string, toAgentId?: string): Reply {
  const c = mustConv(p, id);
  const q2 = toQueueId !== undefined ? p.queues.get(toQueueId) : c.queue;
  if (!q2) reject('SB_ERR_QUEUE_NOT_FOUND', `no queue "${toQueueId}"`, 'toQueueId');
  if (q2.cfg.channel !== c.channel)
    reject(
      'SB_ERR_INVALID_ARGUMENT',
      `queue "${q2.id}" serves ${q2.cfg.channel}, not ${c.channel}`,
      'toQueueId',
    );
  let target: Agent | undefined;
  if (toAgentId !== undefined) {
    target = mustAgent(p, toAgentId, 'toAgentId');
    if (c.agentId === toAgentId)
      reject('SB_ERR_INVALID_STATE', `"${toAgentId}" already has "${id}"`, 'toAgentId');
    // The agent takes it as a new arrival in the destination queue, so the eligibility of an Assign there
    // applies (the queue's skills and membership, the conversation's own skills): otherwise a transfer
    // would hand a manual or skilled queue's work to anyone.
    if (!q2.lanes[0]!.admits(target) || !target.satisfies(c.requiredSkills))
      reject(
        'SB_ERR_AGENT_NOT_ELIGIBLE',
        `agent "${toAgentId}" does not serve queue "${q2.id}" or lacks a skill "${id}" requires`,
        'toAgentId',
      );
    const held = c.offers.includes(toAgentId) || c.participants.includes(toAgentId) ? 1 : 0;
    if (target.presence !== 'online' || target.wrapUntil !== 0)
      reject('SB_ERR_AGENT_NOT_ELIGIBLE', `agent "${toAgentId}" is not available`, 'toAgentId');
    if (target.loadOn(q2.ch) - held >= target.capOn(q2.ch)) noSeat(target, q2.ch, 'toAgentId');
  }
  const from = c.agentId;
  const fromParticipants = c.participants;
  const oldQ = c.queue;
  // Not yet answered and transferred into the queue it waits in (a supervisor re-queueing it): the
  // same wait goes on, with its age, place in line and overflow steps. Resetting them wiped its wait for
  // the service level and ASA (repeated, it kept a queue at 100 %) and sent it to the back of the line.
  const sameWait = q2 === oldQ && !c.answered;
  // The transferring agent's part ends here: handled by them, in the queue they handled it in (the
  // next agent's part is counted when it ends). Escalation helpers handle nothing, as at the end.
  if (c.agent !== null) p.recordHandled(c.agent, oldQ, p.now - c.assignedAt);
  const freed = detach(p, c, 'cancelled');
  oldQ.transferred++;
  if (q2 !== oldQ) {
    oldQ.active--;
    q2.active++;
    q2.inbound++;
    c.queue = q2;
    c.answered = false;
  }
  // A new arrival in the queue, its own included once answered there: it joins the back of the line
  // (enqueuedAt is reset below), so its place is numbered afresh.
  if (!sameWait) {
    c.qord = NO_QORD;
    c.step = 0;
    c.enqueuedAt = p.now;
  }
  // Earlier misses are forgiven (a fresh routing attempt); the agent who transferred it to a queue is
  // passed over like an agent who missed it: not handed it straight back while it waits for someone
  // else, and eligible again at its first re-check (30 s), so it is not stranded when that agent is the
  // only one (escalation helpers did not transfer it and stay eligible).
  c.excluded = from !== null && !target ? [from] : null;
  c.status = 'waiting';
  // The explanation is that of the current assignment, and there is none while it waits (GetConversation
  // showed the previous agent's); nor is its memory kept for a waiting conversation.
  c.explanation = null;
  p.setAdHoc(c);
  p.events.push({
    type: 'transferred',
    conversationId: id,
    fromAgentId: from,
    queueId: q2.id,
    toAgentId: toAgentId ?? null,
    fromQueueId: oldQ.id,
    fromParticipants,
  });
  if (target) {
    p.assign(c, target, p.explain(c, q2.lanes[0]!, 'transfer', 1), false);
    p.refreshAgent(target);
    for (const a of freed) if (a !== target) p.serveAgent(a);
  } else if (sameWait) {
    // Routed again at its age (the desks it rang at, if any, are free again and may take it, as may
    // agents who missed it), before those desks take other work: it is no newer than it was. It was
    // told its place already: told again only of a material change, as at a re-check.
    p.route(c, false, false);
    for (const a of freed) p.serveAgent(a);
  } else {
    // The freed agents first take the best work already waiting (SPEC §3.4: an agent who frees capacity
    // is given the best waiting conversation at once), then the transferred conversation is routed: it
    // just joined its queue and must not jump ahead of older work.
    for (const a of freed) p.serveAgent(a);
    p.route(c, false, true);
  }
  // A customer waiting past the threshold may have left the queue without any window sample.
  if (q2 !== oldQ) {
    p.evaluateSla(oldQ);
    p.checkCapacity(oldQ);
  }
  return OK;
}

function escalate(p: Partition, id: string, toAgentId?: string, toTier?: number): Reply {
  const c = mustConv(p, id);
  if (c.status !== 'assigned')
    reject('SB_ERR_INVALID_STATE', `conversation "${id}" is not with an agent`, 'conversationId');
  const ch = c.queue.ch;
  const lane = laneOf(c);
  const adHoc = p.adHocOf(c);
  let target: Agent | undefined;
  let candidates = 1;
  let qualified: boolean;
  if (toAgentId !== undefined) {
    target = mustAgent(p, toAgentId, 'toAgentId');
    if (c.participants.includes(toAgentId))
      reject('SB_ERR_INVALID_STATE', `"${toAgentId}" already participates in "${id}"`, 'toAgentId');
    requireAvailable(p, target, ch, 'toAgentId');
    qualified = canServe(target, lane, adHoc);
  } else {
    const tier = toTier!;
    // A helper who cannot work the conversation (a billing senior kept to the billing queue, asked about
    // a French technical case) helps nobody, so those who can serve it are preferred; the rest of the
    // tier stand in only when none of them is free, rather than refusing a supervisor's request.
    // Only agents of the requested tier or above are looked at (through the tier index); ties go to the
    // agent who joined first (lowest seq), as in a scan of all agents in join order.
    let other: Agent | undefined;
    let fits = 0;
    let others = 0;
    for (const [t, agents] of p.byTier) {
      if (t < tier) continue;
      for (const a of agents) {
        if (c.participants.includes(a.id) || !a.available(ch)) continue;
        if (canServe(a, lane, adHoc)) {
          fits++;
          if (!target || lessBusy(a, target, ch)) target = a;
        } else {
          others++;
          if (!other || lessBusy(a, other, ch)) other = a;
        }
      }
    }
    qualified = target !== undefined;
    candidates = qualified ? fits : others;
    target ??= other;
    if (!target) reject('SB_ERR_AGENT_NOT_ELIGIBLE', `no agent of tier ≥ ${tier} is available`, 'toTier');
  }
  target.accrue(p.now);
  target.addLoad(ch, 1);
  target.open++;
  c.addParticipant(target.id);
  p.refreshAgent(target);
  const explanation = p.explain(c, lane, 'escalation', candidates);
  explanation.qualified = qualified;
  p.events.push({
    type: 'escalated',
    conversationId: id,
    agentId: target.id,
    queueId: c.queue.id,
    explanation,
  });
  return OK;
}

/**
 * Could `a` be given `c` by routing, tier aside (the escalation names its own): a clause of the lane the
 * conversation reached (its queue's requirements after the overflow steps applied, or a widened queue's)
 * that the agent's queue list allows and its skills meet, and the conversation's own skills beyond them.
 */
function canServe(a: Agent, lane: Lane, adHoc: readonly SkillRequirement[] | null): boolean {
  if (adHoc !== null && !a.satisfies(adHoc)) return false;
  for (const cl of lane.clauses) {
    if (a.cfg.queues.length > 0 && !a.cfg.queues.includes(cl.scope)) continue;
    if (a.satisfies(cl.reqs)) return true;
  }
  return false;
}

/** Least busy on the channel, then idle longest, then joined first. */
function lessBusy(a: Agent, b: Agent, ch: number): boolean {
  const la = a.loadOn(ch);
  const lb = b.loadOn(ch);
  return (
    la < lb || (la === lb && (a.idleSince < b.idleSince || (a.idleSince === b.idleSince && a.seq < b.seq)))
  );
}

function manualAssign(p: Partition, id: string, agentId: string): Reply {
  const c = mustConv(p, id);
  if (c.status !== 'waiting' && c.status !== 'offered')
    reject('SB_ERR_INVALID_STATE', `conversation "${id}" is ${c.status}`, 'conversationId');
  const a = mustAgent(p, agentId);
  const lane = laneOf(c);
  // A conversation in a wait line already has current requirements (lines are rebuilt with the queue);
  // one on offer gets them here, but only once nothing below can reject.
  const adHoc = c.lane === null ? p.adHocOf(c) : c.adHoc;
  if (!lane.admits(a) || (adHoc !== null && !a.satisfies(adHoc)))
    reject('SB_ERR_AGENT_NOT_ELIGIBLE', `agent "${agentId}" lacks a required skill for "${id}"`, 'agentId');
  const held = c.offers.includes(agentId) ? 1 : 0;
  if (a.presence !== 'online' || a.wrapUntil !== 0)
    reject('SB_ERR_AGENT_NOT_ELIGIBLE', `agent "${agentId}" is not available`, 'agentId');
  if (a.loadOn(c.queue.ch) - held >= a.capOn(c.queue.ch)) noSeat(a, c.queue.ch, 'agentId');
  c.adHoc = adHoc;
  const freed = detach(p, c, 'accepted_elsewhere');
  p.assign(c, a, p.explain(c, lane, 'manual_assign', 1), false);
  p.refreshAgent(a);
  for (const f of freed) if (f !== a) p.serveAgent(f);
  return OK;
}

function endConversation(p: Partition, id: string, outcome: Outcome): Reply {
  const c = mustConv(p, id);
  if (c.status !== 'assigned')
    reject('SB_ERR_INVALID_STATE', `conversation "${id}" is ${c.status}`, 'conversationId');
  const q = c.queue;
  const handleMs = p.now - c.assignedAt;
  const primary = c.agent!;
  // The usual case is the primary alone: no lookups, no list.
  const esc = c.escalated;
  const people = esc.length === 0 ? null : [primary, ...esc.map((aid) => p.agents.get(aid)!)];
  if (people === null) releaseSeat(p, primary, q.ch);
  else for (const a of people) releaseSeat(p, a, q.ch);
  p.events.push({
    type: 'conversation_ended',
    conversationId: id,
    agentId: primary.id,
    queueId: q.id,
    outcome,
    handleMs,
    // Helpers are released too, and a watcher filtering by agent must hear of it.
    participants: people === null ? [primary.id] : people.map((a) => a.id),
  });
  const wrap = primary.wrapUpSeconds;
  if (wrap > 0) {
    const endsAt = Math.max(primary.wrapUntil, p.now + wrap * 1000);
    p.setWrap(primary, endsAt);
    // Handled (AHT: talk + after-contact work) when the wrap-up ends.
    const h = { conv: id, queue: q, talkMs: handleMs, endedAt: p.now, until: p.now + wrap * 1000 };
    if (primary.pendingHandles === NO_PENDING) primary.pendingHandles = [h];
    else primary.pendingHandles.push(h);
    p.events.push({ type: 'wrap_up_started', agentId: primary.id, conversationId: id, endsAt });
  } else {
    p.recordHandled(primary, q, handleMs);
    if (primary.open === 0) primary.idleSince = p.now;
  }
  c.status = 'closed';
  c.outcome = outcome;
  p.close(c);
  if (people === null) p.serveAgent(primary);
  else for (const a of people) p.serveAgent(a);
  return OK;
}

function releaseSeat(p: Partition, a: Agent, ch: number): void {
  a.accrue(p.now);
  a.addLoad(ch, -1);
  a.open--;
}

export function endWrap(p: Partition, a: Agent): void {
  a.accrue(p.now);
  p.wraps.remove(a);
  a.wrapUntil = 0;
  p.endPendingHandles(a);
  if (a.open === 0) a.idleSince = p.now;
  p.events.push({ type: 'wrap_up_ended', agentId: a.id });
  p.serveAgent(a);
}

// ------------------------------------------------------------------ time

/** Fires every timer due up to `now`, in time order (wrap-ups first on ties, then conversations by seq). */
function tick(p: Partition, until: number): Reply {
  for (let guard = 0; guard < 10_000_000; guard++) {
    const w = p.wraps.peek();
    const c = p.timers.peek();
    const tw = w ? w.wrapUntil : Number.POSITIVE_INFINITY;
    const tc = c ? p.timers.topK1() : Number.POSITIVE_INFINITY;
    const ts = p.slaNextAt ?? Number.POSITIVE_INFINITY;
    const tn = p.nextNoticeAt();
    const t = Math.min(tw, tc, ts, tn);
    if (t > until) break;
    p.now = Math.max(p.now, t);
    if (tw === t) endWrap(p, w!);
    else if (tc === t) fireConvTimer(p, c!);
    else if (tn === t) noticeTick(p, t);
    else advanceWindows(p);
  }
  p.now = until;
  advanceWindows(p);
  return OK;
}

/**
 * The 30 s re-check of waiting conversations. A conversation that passed over agents who missed its
 * offer (or transferred it away) is routed again with them eligible. It also re-evaluates their queues'
 * service level, which counts conversations waiting past the threshold: so a queue where nobody is
 * answered (no window samples, no other timer) still turns at-risk / breached within one re-check of the
 * threshold.
 */
function noticeTick(p: Partition, t: number): void {
  let last: Queue | null = null;
  for (const n of p.takeNoticesAt(t)) {
    // A conversation re-checked twice in one millisecond (a notice, then a rejected offer's notice) is
    // queued twice: the first re-check may have offered it or moved its next one, so the second is void.
    if (n.status !== 'waiting' || n.noticeAt !== t) continue;
    // Agents who missed it (or transferred it away) are passed over only until this re-check.
    if (n.excluded !== null && n.lane !== null) p.liftExclusions(n);
    else p.notice(n, false);
    // Re-checks due together are mostly of one queue: evaluate each run of them once.
    if (n.queue !== last) {
      if (last) p.evaluateSla(last);
      last = n.queue;
    }
  }
  if (last) p.evaluateSla(last);
}

function advanceWindows(p: Partition): void {
  let changed = false;
  for (const q of p.queues.values()) {
    if (q.window.advance(p.now)) {
      changed = true;
      p.evaluateSla(q);
    }
  }
  // The earliest expiry only moves when a bucket was dropped (samples added update it themselves).
  if (changed || (p.slaNextAt !== null && p.slaNextAt <= p.now)) p.recomputeSlaNext();
}

function fireConvTimer(p: Partition, c: Conv): void {
  const t = p.now;
  if (c.status === 'offered') {
    if (c.offerExpiresAt <= t) {
      const agents = c.offers.map((aid) => p.agents.get(aid)!);
      // Every desk of the ring timed out: widening it after the first miss would ring the next desks
      // only to miss the others after them. The conversation, and what desks set away for it leave
      // (their other offers, the customers held for them), are routed again together, best first; then
      // the desks take other work.
      const again: Conv[] = [];
      for (const a of agents) if (c.offers.includes(a.id)) miss(p, a, c, 'timeout', again);
      again.push(c);
      p.routeAgain(again);
      for (const a of agents) p.serveAgent(a);
      // It rang unanswered, maybe past the threshold (an offered customer has no notice re-check).
      p.evaluateSla(c.queue);
      return;
    }
  } else if (c.status === 'waiting') {
    if (c.reservedFor !== null && c.reservedUntil <= t) {
      p.unreserve(c);
      p.route(c, false, false);
      return;
    }
    if (c.reservedFor === null && p.overflowDue(c) <= t) {
      p.removeWaiting(c);
      p.route(c, false, false);
      return;
    }
  }
  p.reschedule(c);
}

export type { QueueConfig };
