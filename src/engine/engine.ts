/**
 * The `Engine` implementation: validation, command-id dedupe, apply, queries, snapshot and digest
 * around a `Partition`.
 *
 * Dedupe: the replies of the last `dedupeWindow` accepted commands (default 10 000; see `ReplyMemo` in
 * `memo.ts`) are remembered by command id, with a fingerprint of the command (`fingerprint.ts`), and are
 * part of the snapshot. A repeated id within that window carrying the same command gets the remembered
 * reply with no events and `duplicate: true`, and changes nothing (its events were published the first
 * time). The same id carrying a different command is refused: `SB_ERR_CONVERSATION_EXISTS` for an
 * enqueue (its id is the conversation's), `SB_ERR_REQUEST_ID_REUSED` otherwise — answering it with the
 * first reply would tell the caller that a change it never made was made.
 * Rejected commands are not remembered: they changed nothing, so re-evaluating a retry is harmless and
 * keeps the digest unchanged. Ticks are not remembered either (see `apply`), so the window counts
 * callers' commands only.
 */
import type { Engine, EngineSnapshot, Query, QueryResult } from './api.js';
import { execute, Rejection } from './commands.js';
import { DEFAULT_CUSTOMER_LIMIT } from './customers.js';
import { digestValue } from './digest.js';
import { fingerprint, matchesFingerprint } from './fingerprint.js';
import { lint } from './lint.js';
import { ReplyMemo } from './memo.js';
import { type Agent, type Conv, compareText } from './model.js';
import { Partition } from './partition.js';
import { agentStats, idPage, pageResult, queueStats } from './queries.js';
import {
  capture,
  captureSteps,
  fromV1,
  rebuild,
  SNAPSHOT_VERSION,
  type StateV1,
  type StateV2,
} from './snapshot.js';
import type { ApplyResult, CommandEnvelope, EngineError, EngineEvent, Reply } from './types.js';
import { validateEnvelope } from './validate.js';

export interface EngineOptions {
  /** Command ids remembered for dedupe (default 10 000). */
  dedupeWindow?: number;
  /** Closed conversations kept for queries/explain (default 10 000). */
  recentClosed?: number;
  /**
   * Customers created by contact that are remembered, least recently contacted forgotten first
   * (default 2 000 000; configured customers are always kept). Part of the snapshot: a restore keeps the
   * snapshot's bound unless this option is given.
   */
  customerLimit?: number;
  /**
   * Seed of the string hash of the engine's id tables (conversations, customers, dedupe). Ids come from
   * clients; a host exposed to untrusted ids should pass a random per-process value so nobody can craft
   * ids that collide. Decisions, snapshots and digests do not depend on it. Default 0.
   */
  hashSeed?: number;
}

export const DEFAULT_DEDUPE_WINDOW = 10_000;

/** Placeholder between commands (frozen: nothing may emit outside `apply`). */
const DRAINED = Object.freeze([]) as unknown as EngineEvent[];

export class RoutingEngine implements Engine {
  /**
   * Set when a command failed with an internal error (a bug, not bad input). The command may have been
   * partly applied and JavaScript cannot roll a partition back cheaply (an undo log or a copy per command
   * would cost more than the decision itself), so the engine stops: it refuses every further command,
   * query, snapshot and digest, and a half-applied state is never acted on, shown or persisted. The
   * host rebuilds the partition from its last snapshot and log WITHOUT the failed command: replay is
   * deterministic, so that is exactly the state as if the command had been rejected.
   */
  private failure: { commandId: string; error: string } | null = null;

  constructor(
    readonly partition: string,
    private p: Partition,
    private readonly dedupe: ReplyMemo<Reply>,
  ) {}

  get now(): number {
    return this.p.now;
  }

  /** The command that failed internally and halted the engine, or null. */
  get halted(): { commandId: string; error: string } | null {
    return this.failure;
  }

  apply(env: CommandEnvelope): ApplyResult {
    if (this.failure) return { ok: false, error: this.haltedError() };
    const given = (env as { id?: unknown } | null)?.id;
    if (typeof given === 'string') {
      const id =
        given.startsWith('r:') && !this.dedupe.get(given) ? this.legacyRequestKey(given, env.cmd) : given;
      const prior = this.dedupe.get(id);
      if (prior) {
        const tag = this.dedupe.tagOf(id);
        if (tag === 0 || matchesFingerprint(tag, env.cmd))
          return { ok: true, reply: prior, events: [], duplicate: true };
        return { ok: false, error: reusedId(id, env.cmd), duplicate: true };
      }
    }
    const invalid = validateEnvelope(env);
    if (invalid) return { ok: false, error: invalid };
    const p = this.p;
    const before = p.now;
    p.events = [];
    let result: ApplyResult;
    try {
      const reply = execute(p, env.cmd, env.at, env.limit);
      result = { ok: true, reply, events: p.events };
    } catch (e) {
      p.now = before;
      p.events = [];
      if (e instanceof Rejection) return { ok: false, error: e.error };
      // A bug, not bad input: report it as internal rather than crash the host, and halt (see `failure`).
      this.failure = { commandId: env.id, error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
      return { ok: false, error: this.haltedError() };
    }
    p.events = DRAINED;
    // A tick is the host's own timer command under an id it never reuses: nobody retries it, and
    // remembering ticks would push callers' commands out of the window (1 000 waiting conversations
    // tick often enough to shrink "the last 10 000 commands" to minutes). Replay and restore skip
    // them alike, so the remembered ids stay deterministic.
    if (env.cmd.type !== 'tick') this.dedupe.set(env.id, result.reply, fingerprint(env.cmd));
    return result;
  }

  /**
   * Request ids were keyed `<type>:r:<id>` until request ids became method-independent (`r:<id>`): a
   * gateway retry that spans that upgrade carries the new key while the window remembers the old one.
   * Returns the old key when the window holds it, so the retry is still recognised; else the id as is.
   */
  private legacyRequestKey(id: string, cmd: unknown): string {
    const type = (cmd as { type?: unknown } | null)?.type;
    if (typeof type !== 'string') return id;
    const legacy = `${type}:${id}`;
    return this.dedupe.get(legacy) ? legacy : id;
  }

  private haltedError(): { code: 'SB_ERR_INTERNAL'; message: string } {
    return {
      code: 'SB_ERR_INTERNAL',
      message: `partition halted by an internal error in command "${this.failure!.commandId}"; restore it from its last snapshot and log without that command`,
    };
  }

  private assertLive(): void {
    if (this.failure) throw new Error(this.haltedError().message);
  }

  query(q: Query, at: number): QueryResult {
    this.assertLive();
    const p = this.p;
    switch (q.type) {
      case 'conversation': {
        const c = p.convs.get(q.conversationId);
        if (c) return { type: 'conversation', conversation: p.view(c, at) };
        return { type: 'conversation', conversation: p.recentView(q.conversationId) };
      }
      case 'agent_conversations': {
        if (!p.agents.has(q.agentId)) return { type: 'agent_conversations', conversations: null };
        // A scan of the open conversations (a few ms per 100 000): an index kept per agent cost 2-10 %
        // of every decision at 10⁵ agents, for a call made when a desktop reconnects.
        const held: Conv[] = [];
        for (const c of p.convs.values()) {
          if (c.status === 'assigned' && (c.agent?.id === q.agentId || c.escalated.includes(q.agentId)))
            held.push(c);
        }
        // Oldest assignment first (then id).
        held.sort((x, y) => x.assignedAt - y.assignedAt || compareText(x.id, y.id));
        return { type: 'agent_conversations', conversations: held.map((c) => p.view(c, at)) };
      }
      case 'list_waiting': {
        const qu = p.queues.get(q.queueId);
        if (!qu) return { type: 'list_waiting', conversations: null, total: 0 };
        // One more than the page: whether another page follows.
        const line = p.waitingInOrder(qu, q.limit + 1, q.after);
        const more = line.length > q.limit;
        if (more) line.pop();
        const last = line[line.length - 1];
        return {
          type: 'list_waiting',
          conversations: line.map((c) => p.view(c, at)),
          total: qu.waiting,
          ...(more && last ? { next: { priority: last.priority, at: last.enqueuedAt, seq: last.seq } } : {}),
        };
      }
      case 'queue_stats': {
        const qu = p.queues.get(q.queueId);
        return { type: 'queue_stats', stats: qu ? queueStats(p, qu, at) : null };
      }
      case 'all_queue_stats': {
        const page = idPage(p.queueIdsInOrder(), q);
        return {
          type: 'all_queue_stats',
          stats: page.ids.map((id) => queueStats(p, p.queues.get(id)!, at)),
          ...pageResult(page, q, () => p.queues.size),
        };
      }
      case 'agent_stats': {
        const a = p.agents.get(q.agentId);
        return { type: 'agent_stats', stats: a ? agentStats(p, a, at) : null };
      }
      case 'all_agent_stats': {
        const team = q.team;
        const inTeam = (a: Agent) => team === undefined || a.cfg.teams.includes(team);
        let ids: readonly string[] = p.agentIdsInOrder();
        let keep: ((id: string) => boolean) | undefined;
        let total: () => number;
        if (q.queueId !== undefined) {
          const queue = p.queues.get(q.queueId);
          if (!queue) return { type: 'all_agent_stats', stats: null };
          // The agents who staff it: members with a seat on its channel (a chat-only agent a voice
          // queue's skills admit takes none of its calls).
          const lane = queue.lanes[0]!;
          const staffs = (a: Agent) => !a.removed && a.capOn(queue.ch) > 0 && inTeam(a);
          if (lane.members.size * 8 < p.agents.size) {
            // Few of the tenant's agents: sorting them costs less than walking every agent's id.
            const staff: string[] = [];
            for (const m of lane.members) if (staffs(m.agent)) staff.push(m.agent.id);
            ids = staff.sort(compareText);
            total = () => staff.length;
          } else {
            keep = (id) => {
              const a = p.agents.get(id)!;
              return a.memberOf(lane) !== undefined && staffs(a);
            };
            total = () => {
              let n = 0;
              for (const m of lane.members) if (staffs(m.agent)) n++;
              return n;
            };
          }
        } else if (team !== undefined) {
          keep = (id) => inTeam(p.agents.get(id)!);
          total = () => {
            let n = 0;
            for (const a of p.agents.values()) if (inTeam(a)) n++;
            return n;
          };
        } else {
          total = () => p.agents.size;
        }
        const page = idPage(ids, q, keep);
        return {
          type: 'all_agent_stats',
          stats: page.ids.map((id) => agentStats(p, p.agents.get(id)!, at)),
          ...pageResult(page, q, total),
        };
      }
      case 'agent':
        return { type: 'agent', agent: structuredClone(p.agents.get(q.agentId)?.cfg ?? null) };
      case 'queue':
        return { type: 'queue', queue: structuredClone(p.queues.get(q.queueId)?.cfg ?? null) };
      case 'customer':
        return { type: 'customer', customer: p.customers.record(q.customerId) };
      case 'list_agents': {
        const page = idPage(p.agentIdsInOrder(), q);
        return {
          type: 'list_agents',
          agents: structuredClone(page.ids.map((id) => p.agents.get(id)!.cfg)),
          ...pageResult(page, q, () => p.agents.size),
        };
      }
      case 'list_queues': {
        const page = idPage(p.queueIdsInOrder(), q);
        return {
          type: 'list_queues',
          queues: structuredClone(page.ids.map((id) => p.queues.get(id)!.cfg)),
          ...pageResult(page, q, () => p.queues.size),
        };
      }
      case 'ids': {
        const agentIds: string[] = [];
        for (const a of p.agents.values()) if (!a.removed) agentIds.push(a.cfg.id);
        return { type: 'ids', queueIds: [...p.queues.keys()], agentIds };
      }
      case 'routing_config':
        return { type: 'routing_config', config: structuredClone(p.config) };
      case 'lint':
        return { type: 'lint', findings: lint(p) };
      case 'digest':
        return { type: 'digest', digest: this.digest() };
      case 'open_conversations': {
        let waiting = 0;
        let offered = 0;
        let assigned = 0;
        for (const c of p.convs.values()) {
          if (c.status === 'waiting') waiting++;
          else if (c.status === 'offered') offered++;
          else if (c.status === 'assigned') assigned++;
        }
        return { type: 'open_conversations', waiting, offered, assigned };
      }
    }
  }

  nextTimerAt(): number | null {
    const p = this.p;
    let t = Number.POSITIVE_INFINITY;
    const w = p.wraps.peek();
    if (w) t = w.wrapUntil;
    const c = p.timers.peek();
    if (c && p.timers.topK1() < t) t = p.timers.topK1();
    if (p.slaNextAt !== null && p.slaNextAt < t) t = p.slaNextAt;
    const n = p.nextNoticeAt();
    if (n < t) t = n;
    return t === Number.POSITIVE_INFINITY ? null : t;
  }

  /** Fresh containers throughout, sharing only leaves the engine never mutates (see `capture`): no clone needed. */
  snapshot(): EngineSnapshot {
    this.assertLive();
    return { version: SNAPSHOT_VERSION, partition: this.partition, state: capture(this.p, this.dedupe) };
  }

  *snapshotSteps(chunk?: number): Generator<void, EngineSnapshot, void> {
    this.assertLive();
    const state = yield* captureSteps(this.p, this.dedupe, chunk);
    return { version: SNAPSHOT_VERSION, partition: this.partition, state };
  }

  /** Hashes the captured state as a structure (no JSON string is built). */
  digest(): string {
    this.assertLive();
    return digestValue([this.partition, capture(this.p, this.dedupe)]);
  }

  static create(partition: string, options: EngineOptions = {}): RoutingEngine {
    const seed = checkedSeed(options.hashSeed);
    const p = new Partition(seed, options.recentClosed ?? 10_000);
    p.customers.limit = checkedLimit(options.customerLimit) ?? DEFAULT_CUSTOMER_LIMIT;
    return new RoutingEngine(
      partition,
      p,
      new ReplyMemo(options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW, seed),
    );
  }

  /**
   * Takes ownership of `s.state` (no copy): the restored engine mutates it from then on, so pass a
   * snapshot nobody else uses — one just parsed or received from another thread, or a structured clone.
   */
  static restore(s: EngineSnapshot, options: EngineOptions = {}): RoutingEngine {
    let state: StateV2;
    if (s.version === SNAPSHOT_VERSION) state = s.state as StateV2;
    else if (s.version === 1) state = fromV1(s.state as StateV1);
    else throw new Error(`unsupported engine snapshot version ${s.version}`);
    const { p, dedupe } = rebuild(
      state,
      options.dedupeWindow ?? DEFAULT_DEDUPE_WINDOW,
      checkedSeed(options.hashSeed),
    );
    const limit = checkedLimit(options.customerLimit);
    if (limit !== undefined) p.customers.setLimit(limit);
    return new RoutingEngine(s.partition, p, dedupe);
  }
}

function checkedLimit(n: number | undefined): number | undefined {
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 1))
    throw new RangeError(`customerLimit must be a positive integer, got ${n}`);
  return n;
}

function checkedSeed(n: number | undefined): number {
  if (n === undefined) return 0;
  if (!Number.isSafeInteger(n)) throw new RangeError(`hashSeed must be an integer, got ${n}`);
  return n | 0;
}

/** The answer to a remembered command id that now carries a different command. */
function reusedId(id: string, cmd: unknown): EngineError {
  const c = cmd as { type?: unknown; conversation?: { id?: unknown } } | null;
  if (c?.type === 'enqueue') {
    return {
      code: 'SB_ERR_CONVERSATION_EXISTS',
      message: `conversation "${String(c.conversation?.id)}" was already enqueued with different content`,
      field: 'conversation.id',
    };
  }
  return {
    code: 'SB_ERR_REQUEST_ID_REUSED',
    message: `command id "${id}" was already used for a different ${typeof c?.type === 'string' ? c.type : 'command'}`,
  };
}
