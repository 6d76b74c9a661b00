/**
 * The engine's public surface: one instance per partition (a tenant). Mutable inside for speed (indexes,
 * heaps), deterministic outside: the same envelopes in the same order always give the same events,
 * replies, snapshot and digest.
 */
import type {
  AgentConfig,
  AgentStats,
  ApplyResult,
  CommandEnvelope,
  ConversationView,
  CustomerConfig,
  LintFinding,
  QueueConfig,
  QueueStats,
  RoutingConfig,
} from './types.js';

/**
 * One page of a list ordered by id (code-unit order, `compareText`): the items whose id sorts after
 * `after` (none: from the start), at most `limit` of them (none: all, for the node's own readers such as
 * the metrics). Paging by the last id rather than by position keeps pages consistent while the list
 * changes between them: an item that exists throughout a walk is in exactly one page.
 */
export interface PageQuery {
  after?: string;
  limit?: number;
}

/**
 * What a paged answer adds when the query gave a `limit`: `next`, the id to ask after for the next page
 * (this page's last), present only when more items follow; `total`, how many items the list has in all.
 */
export interface PageResult {
  next?: string;
  total?: number;
}

/**
 * A place in a queue's waiting line, the cursor of `list_waiting` pages: a conversation's priority
 * level, the time it joined the queue and its sequence number, which place it in the serving order
 * (effective priority from the level and the age, then arrival). A waiting conversation's key does not
 * change while it waits in its queue (other conversations leaving around it do not move it), and with
 * aging alone neither does its order against the others (all age alike), so paging after the previous
 * page's last place stays correct while the line moves: a conversation waiting throughout a walk, in
 * the same place, is in exactly one page, whoever is served or leaves ahead of it or behind it. One that
 * joins ahead of the cursor (a higher priority, or an older one back in line) is not in the pages still
 * to come. The conversation named by the key need not still wait: the next page starts after its place
 * all the same. (SLA-driven priority reorders the line as conversations near the threshold: pages then
 * follow the order of their own moment.)
 */
export interface LinePlace {
  priority: number;
  at: number;
  seq: number;
}

/** Read-only questions; never logged, never change state. `at` is the asker's clock for derived values. */
export type Query =
  | { type: 'conversation'; conversationId: string }
  /** The conversations an agent holds now (assigned to them or escalated to them), oldest assignment first. */
  | { type: 'agent_conversations'; agentId: string }
  /**
   * The first `limit` conversations waiting in a queue in position order (those after `after`, when
   * given), and how many wait in all.
   */
  | { type: 'list_waiting'; queueId: string; limit: number; after?: LinePlace }
  | { type: 'queue_stats'; queueId: string }
  /** Every queue's statistics (or a page of them), by queue id. */
  | ({ type: 'all_queue_stats' } & PageQuery)
  | { type: 'agent_stats'; agentId: string }
  /** Every agent's statistics, or the members of `queueId` and/or the agents of `team`; by agent id. */
  | ({ type: 'all_agent_stats'; queueId?: string; team?: string } & PageQuery)
  | { type: 'agent'; agentId: string }
  | { type: 'queue'; queueId: string }
  | { type: 'customer'; customerId: string }
  /** The agents' configurations (or a page of them), by id. */
  | ({ type: 'list_agents' } & PageQuery)
  /** The queues' configurations (or a page of them), by id. */
  | ({ type: 'list_queues' } & PageQuery)
  /** The ids of the queues and (not removed) agents, for the node's metrics to start their series at 0. */
  | { type: 'ids' }
  | { type: 'routing_config' }
  | { type: 'lint' }
  | { type: 'digest' }
  /** How many conversations are open (waiting, offered, assigned): DeleteTenant's precondition. */
  | { type: 'open_conversations' };

export type QueryResult =
  | { type: 'conversation'; conversation: ConversationView | null }
  /** null: no such queue. */
  /** `next`: the place to page after for the next page (this page's last), only when more wait after it. */
  | { type: 'list_waiting'; conversations: ConversationView[] | null; total: number; next?: LinePlace }
  /** null: no such agent. */
  | { type: 'agent_conversations'; conversations: ConversationView[] | null }
  | { type: 'queue_stats'; stats: QueueStats | null }
  | ({ type: 'all_queue_stats'; stats: QueueStats[] } & PageResult)
  | { type: 'agent_stats'; stats: AgentStats | null }
  /** null: `queueId` is not a queue. */
  | ({ type: 'all_agent_stats'; stats: AgentStats[] | null } & PageResult)
  | { type: 'agent'; agent: AgentConfig | null }
  | { type: 'queue'; queue: QueueConfig | null }
  | { type: 'customer'; customer: CustomerConfig | null }
  | ({ type: 'list_agents'; agents: AgentConfig[] } & PageResult)
  | ({ type: 'list_queues'; queues: QueueConfig[] } & PageResult)
  | { type: 'ids'; queueIds: string[]; agentIds: string[] }
  | { type: 'routing_config'; config: RoutingConfig }
  | { type: 'lint'; findings: LintFinding[] }
  | { type: 'digest'; digest: string }
  | { type: 'open_conversations'; waiting: number; offered: number; assigned: number };

/** Serialisable engine state (structured-clone and JSON safe). Versioned for forward migration. */
export interface EngineSnapshot {
  version: number;
  partition: string;
  /** Opaque to everyone but the engine. */
  state: unknown;
}

export interface Engine {
  readonly partition: string;
  /**
   * Applies one command. Never throws for bad input: returns `{ ok: false, error }` and changes nothing.
   * An internal error (a bug) returns `SB_ERR_INTERNAL` and halts the engine (see `halted`).
   */
  apply(env: CommandEnvelope): ApplyResult;
  /**
   * Non-null once a command failed internally. It may have been partly applied, so the engine refuses
   * every further command (`SB_ERR_INTERNAL`) and throws on query, snapshot and digest. Recover by
   * restoring the last snapshot and replaying the log without `commandId` (deterministic replay makes
   * that exactly "the command was rejected").
   */
  readonly halted: { commandId: string; error: string } | null;
  query(q: Query, at: number): QueryResult;
  /** Earliest time a `tick` has work to do (offer timeout, overflow step, wrap-up end, SLA window), or null. */
  nextTimerAt(): number | null;
  snapshot(): EngineSnapshot;
  /**
   * `snapshot()` a piece at a time (a few thousand records per step): the snapshot `snapshot()` would
   * have returned at the first step, provided nothing is applied, queried or ticked on this engine
   * until the generator is done. For a host that runs other partitions between the steps. `chunk`:
   * records per step (tests use small ones).
   */
  snapshotSteps(chunk?: number): Generator<void, EngineSnapshot, void>;
  /** Hash of the full logical state; equal digests ⇔ equal states (for tests and recovery checks). */
  digest(): string;
  /** Time of the last applied command (the engine's notion of "now"). */
  readonly now: number;
}
