/**
 * The seam between the API (service layer) and the partition host. The API validates and authorises,
 * then submits commands and queries here; where the partition lives (this node's worker, or another
 * node) is the router's business.
 */
import type { Query, QueryResult } from '../engine/api.js';
import type { ApplyResult, CommandEnvelope, EngineEvent } from '../engine/types.js';
import { SwitchboardError } from '../errors/catalogue.js';
import { type BackfillTo, type EventPosition, positionGone } from './event-history.js';

/** An engine event as published: with its partition, log position and time. */
export interface PublishedEvent {
  tenant: string;
  /** Log seq of the batch that produced it (events of one batch share it). */
  seq: number;
  /** Its place among the tenant's events of that batch, 0-based: (`seq`, `index`) is its position. */
  index: number;
  at: number;
  event: EngineEvent;
  /** The tenant's incarnation (see `checkIncarnation` in event-history.ts); absent = unknown. */
  incarnation?: number;
  /**
   * Set when re-derived from the log by a (re)load — to that load's number on this node, so a listener
   * can tell two loads apart: the command's events may already have been delivered once (by this node
   * before a failure, or by the partition's previous owner).
   */
  rederived?: number;
}

export interface EventFilter {
  tenant: string;
  queueId?: string;
  agentId?: string;
  conversationId?: string;
  types?: string[];
}

export interface PartitionRouter {
  /**
   * Applies a command on the partition's owner and resolves once it is durable (in the configured mode).
   * Rejects with a catalogue-coded error (`SB_ERR_OVERLOADED`, `SB_ERR_UNAVAILABLE`,
   * `SB_ERR_DEADLINE_EXCEEDED`, ...) when it cannot; engine rejections resolve as `{ ok: false }`.
   */
  submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult>;
  query(tenant: string, q: Query, deadlineMs?: number): Promise<QueryResult>;
  /**
   * Live events of the tenant matching the filter. Returns an unsubscribe function. `onEnd` is called
   * once when the tenant is deleted (no more events come).
   */
  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void, onEnd?: () => void): () => void;
  /**
   * The tenant's stored events matching the filter after `after`, in position order, each handed to
   * `sink` (awaited when it returns a promise: backpressure); resolves when the newest stored one was
   * handed over. Rejects with SB_ERR_RESUME_POSITION_GONE for a position the node cannot serve. Absent:
   * no resume (every position is gone).
   */
  backfill?(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void>;
  /** True once recovered and able to serve. */
  ready(): boolean;
  /**
   * For a tenant that does not exist: the answer a blank tenant gives to this command when the command
   * would not create it, else null (the tenant exists, or the command creates it: `submit` it on the
   * owner). Nothing is created either way. The cluster router asks before it claims a tenant's lease.
   */
  submitIfAbsent?(tenant: string, env: CommandEnvelope): Promise<ApplyResult | null>;
  /** The same for a query: a blank tenant's answer, or null when the tenant exists. */
  queryIfAbsent?(tenant: string, q: Query): Promise<QueryResult | null>;
  /** DeleteTenant, on the tenant's owner (see `PartitionHost.deleteTenant`). */
  deleteTenant?(tenant: string, force: boolean, deadlineMs?: number): Promise<DeleteTenantResult>;
  /** Null when the tenant exists or is being deleted (the owner deletes it); else "nothing to delete". */
  deleteIfAbsent?(tenant: string): Promise<DeleteTenantResult | null>;
}

/** What DeleteTenant found: whether the tenant existed, and its open conversations then (with force). */
export interface DeleteTenantResult {
  existed: boolean;
  openConversations: number;
}

/** What `LocalPartitionRouter` needs from the actor host (see `partition-host.ts`). */
export interface LocalHost {
  submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult>;
  query(tenant: string, q: Query, deadlineMs?: number): Promise<QueryResult>;
  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void, onEnd?: () => void): () => void;
  backfill?(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void>;
  ready(): boolean;
  submitIfAbsent?(tenant: string, env: CommandEnvelope): Promise<ApplyResult | null>;
  queryIfAbsent?(tenant: string, q: Query): Promise<QueryResult | null>;
  deleteTenant?(tenant: string, force: boolean, deadlineMs?: number): Promise<DeleteTenantResult>;
  deleteIfAbsent?(tenant: string): Promise<DeleteTenantResult | null>;
}

/**
 * The router of a node that serves its partitions itself (embedded mode, or the local half of a cluster
 * node): submits and queries go to this node's actor host; events are filtered on the main thread.
 */
export class LocalPartitionRouter implements PartitionRouter {
  constructor(private readonly host: LocalHost) {}

  submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult> {
    return this.host.submit(tenant, env, deadlineMs);
  }

  query(tenant: string, q: Query, deadlineMs?: number): Promise<QueryResult> {
    return this.host.query(tenant, q, deadlineMs);
  }

  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void, onEnd?: () => void): () => void {
    return this.host.subscribe(filter, onEvent, onEnd);
  }

  backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    if (!this.host.backfill) return Promise.reject(positionGone(after, 'this node keeps no event history'));
    return this.host.backfill(filter, after, to);
  }

  ready(): boolean {
    return this.host.ready();
  }

  submitIfAbsent(tenant: string, env: CommandEnvelope): Promise<ApplyResult | null> {
    return this.host.submitIfAbsent ? this.host.submitIfAbsent(tenant, env) : Promise.resolve(null);
  }

  queryIfAbsent(tenant: string, q: Query): Promise<QueryResult | null> {
    return this.host.queryIfAbsent ? this.host.queryIfAbsent(tenant, q) : Promise.resolve(null);
  }

  deleteTenant(tenant: string, force: boolean, deadlineMs?: number): Promise<DeleteTenantResult> {
    if (!this.host.deleteTenant)
      return Promise.reject(
        new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', 'this host cannot delete tenants'),
      );
    return this.host.deleteTenant(tenant, force, deadlineMs);
  }

  deleteIfAbsent(tenant: string): Promise<DeleteTenantResult | null> {
    return this.host.deleteIfAbsent ? this.host.deleteIfAbsent(tenant) : Promise.resolve(null);
  }
}
