/**
 * Cluster routing: a `PartitionRouter` that serves a tenant locally when this node holds its lease and
 * otherwise forwards the call to the owner over NATS request/reply (`sb.rpc.<nodeId>`), with deadlines.
 *
 * Who serves a call for tenant T arriving at node N:
 *
 * | lease of T                         | N does                                                            |
 * |------------------------------------|-------------------------------------------------------------------|
 * | held by N                          | local host                                                        |
 * | held by live node M                | forward to M (M re-checks; at most one more hop)                  |
 * | none, N is the wanted owner        | claim the lease, load T (snapshot + log), serve locally           |
 * | none, M is the wanted owner        | forward to M, which claims it because it was asked                |
 * | being handed over by N             | wait for the hand-over (drain, snapshot, key deleted), then above |
 * | owner unreachable / moving         | retry every 25–200 ms until the deadline, then DEADLINE_EXCEEDED  |
 *
 * (The wanted owner: `desiredOwner`, rendezvous hashing with bounded loads, see `rendezvous.ts`.)
 * Retrying is safe because every command carries its request id: an owner that already applied it
 * answers from memory. Events reach subscribers on any node through the NATS event subjects.
 */
import { randomBytes } from 'node:crypto';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  checkForwardedDelete,
  checkForwardedQuery,
  checkForwardedSubmit,
  unknownToThisBuild,
} from '../../api/validate/forwarded.js';
import type { Query, QueryResult } from '../../engine/api.js';
import type { ApplyResult, CommandEnvelope } from '../../engine/types.js';
import { type ErrorCode, isSwitchboardError, SwitchboardError } from '../../errors/catalogue.js';
import { type BackfillTo, type EventPosition, positionGone } from '../../host/event-history.js';
import type { DeleteTenantResult, EventFilter, PartitionRouter, PublishedEvent } from '../../host/router.js';
import { type Clock, monotonicClock, type Ownership, systemClock } from '../ports.js';
import { EventBatchGatherer, type JetStreamEventPublisher, subscribeClusterEvents } from './events.js';
import { ForwardDelays } from './forward-delays.js';
import { isNoResponders } from './startup.js';
import { idToken, rpcSubject } from './subjects.js';

/** Core NATS subject (no stream) on which a tenant's owner says the tenant was deleted. */
export function tenantDeletedSubject(tenant: string, prefix = 'sb.deleted'): string {
  return `${prefix}.${idToken(tenant)}`;
}

/** What the router needs from ownership beyond the port: who should own a tenant. */
export interface ClusterOwnership extends Ownership {
  desiredOwner(partition: string): string | null;
  /**
   * This node's hand-over of the partition in progress (settles once the next owner may claim it), or
   * null: a call that arrives meanwhile waits for it, then goes to the next owner.
   */
  releasing?(partition: string): Promise<void> | null;
  /** The node lease TTL, ms (the default grace of a lost NATS connection, see `natsGraceMs`). */
  readonly leaseTtlMs?: number;
}

export interface ClusterRouterOptions {
  nc: NatsConnection;
  ownership: ClusterOwnership;
  /** This node's own router (the runtime's `LocalPartitionRouter` over the partition host). */
  local: PartitionRouter;
  /** When given, the events of every tenant this node owns are published to `SB_EVENTS`. */
  events?: JetStreamEventPublisher;
  /** Event subject prefix (tests), default `sb.evt`. */
  eventSubjectPrefix?: string;
  /** Deadline for calls that bring none, ms (default 10 000: enough to ride out a failover). */
  defaultDeadlineMs?: number;
  /** Longest wait for one forwarded attempt before retrying, ms (default 1500). */
  attemptTimeoutMs?: number;
  /** The clock that stamps commands this node serves (the node's `Clock` port; default the wall clock). */
  clock?: Clock;
  /**
   * Not ready once the NATS connection has been down this long, ms (default: the lease TTL, after which
   * the node holds no lease and can forward nothing); ready again when it reconnects.
   */
  natsGraceMs?: number;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * A forwarded call. `ms`: the time left to the caller's deadline when it was sent (the nodes' clocks need
 * not agree, so not an absolute deadline); `sent` and `from`: when and by which process (node id and
 * incarnation), on the sender's monotonic clock, so that the owner can tell a call that reached it too
 * late (`ForwardDelays`). Absent from nodes that predate them: such calls are not judged.
 */
type RpcCall = { hops: number; ms?: number; sent?: number; from?: string };
export type RpcRequest =
  | ({ kind: 'submit'; tenant: string; env: CommandEnvelope } & RpcCall)
  | ({ kind: 'query'; tenant: string; q: Query } & RpcCall)
  | ({ kind: 'delete'; tenant: string; force: boolean } & RpcCall);

export type RpcReply = { ok: true; result: unknown } | { ok: false; code: string; message: string };

/** Calls to one node gathered during one event-loop turn travel as one NATS request. */
export type RpcBatch = { kind: 'batch'; calls: RpcRequest[]; ms: number };
export type RpcBatchReply = { batch: RpcReply[] };

/**
 * A forwarded request's body (`sb.rpc.<node>`) as the calls it holds, or the error answer for a body that
 * is not one. Fields this build does not know are kept and ignored: in a rolling upgrade a newer node's
 * calls carry them. The owner's decoder, also read by the compatibility corpus (`test/compat`).
 */
export function decodeForwarded(data: Uint8Array): { calls: RpcRequest[]; batch: boolean } | RpcReply {
  let req: RpcRequest | RpcBatch;
  try {
    req = JSON.parse(dec.decode(data)) as RpcRequest | RpcBatch;
  } catch {
    return { ok: false, code: 'SB_ERR_INVALID_ARGUMENT', message: 'malformed forwarded request' };
  }
  if (typeof req !== 'object' || req === null) {
    return { ok: false, code: 'SB_ERR_INVALID_ARGUMENT', message: 'malformed forwarded request' };
  }
  if (req.kind === 'batch') {
    if (!Array.isArray(req.calls)) {
      return { ok: false, code: 'SB_ERR_INVALID_ARGUMENT', message: 'malformed forwarded batch' };
    }
    return { calls: req.calls, batch: true };
  }
  return { calls: [req], batch: false };
}

/**
 * Why the owner refuses a forwarded call, or null: the checks the API makes of its own callers
 * (`SB_ERR_INVALID_ARGUMENT` naming the field: no node would have sent it), and `SB_ERR_NOT_IMPLEMENTED`
 * for a command, query or kind of call this build does not know (a newer node's, in a rolling upgrade).
 */
export function checkForwardedCall(
  req: RpcRequest,
): { code: ErrorCode; message: string; field?: string } | null {
  try {
    if (req.kind === 'submit') checkForwardedSubmit(req.tenant, req.env);
    else if (req.kind === 'query') checkForwardedQuery(req.tenant, req.q);
    else if (req.kind === 'delete') checkForwardedDelete(req.tenant, req.force);
    else unknownToThisBuild('kind', (req as { kind?: unknown }).kind);
    return null;
  } catch (e) {
    return isSwitchboardError(e)
      ? e
      : new SwitchboardError('SB_ERR_INVALID_ARGUMENT', 'malformed forwarded call');
  }
}

/** A forwarded answer's body (one reply, or one per call of a batch). */
export function decodeForwardedReply(data: Uint8Array): RpcReply | RpcBatchReply {
  return JSON.parse(dec.decode(data)) as RpcReply | RpcBatchReply;
}

interface Outgoing {
  req: RpcRequest;
  timeout: number;
  resolve: (r: RpcReply) => void;
  reject: (e: unknown) => void;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

const RETRYABLE = new Set(['SB_ERR_NOT_OWNER', 'SB_ERR_UNAVAILABLE']);

/**
 * A forwarded call that reached its owner this much later than its budget (measured as `ForwardDelays`
 * does: the clocks' offset taken out) is not served. The measure can only understate the delay, so the
 * margin covers only the drift of two monotonic clocks over a window and timer jitter.
 */
const LATE_MARGIN_MS = 100;

/** Whether `p` settles within `ms` (it never rejects: a hand-over logs its own failures). */
function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), Math.max(0, ms));
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Routes to the lease holder; see the table above. Call `start()` to answer forwarded calls. */
export class ClusterPartitionRouter implements PartitionRouter {
  private sub: Subscription | null = null;
  private readonly eventTaps = new Map<string, () => void>();
  private unwatch: (() => void) | null = null;
  private unwarm: (() => void) | null = null;
  private readonly defaultDeadline: number;
  private readonly attemptTimeout: number;
  private readonly clock: Clock;
  /** This process as the sender of forwarded calls (an incarnation per process: its clock's origin). */
  private readonly origin: string;
  private readonly delays = new ForwardDelays();
  private readonly outgoing = new Map<string, Outgoing[]>();
  private flushScheduled = false;
  /** Since when the NATS connection is down (monotonic ms), or null while it is up. */
  private natsDownSince: number | null = null;
  private readonly natsGrace: number;
  forwarded = 0;
  /** NATS requests sent for forwarded calls (≤ `forwarded`: calls of one turn to one node share one). */
  forwardRequests = 0;
  /** Forwarded calls this node did not serve because they reached it after their deadline. */
  forwardedTooLate = 0;
  /** Forwarded calls refused as no node would have sent them (invalid tenant, command or field). */
  forwardedRefused = 0;

  constructor(private readonly opts: ClusterRouterOptions) {
    this.defaultDeadline = opts.defaultDeadlineMs ?? 10_000;
    this.attemptTimeout = opts.attemptTimeoutMs ?? 1500;
    this.clock = opts.clock ?? systemClock;
    this.origin = `${opts.ownership.nodeId}:${randomBytes(4).toString('hex')}`;
    this.natsGrace = opts.natsGraceMs ?? opts.ownership.leaseTtlMs ?? 2000;
  }

  get nodeId(): string {
    return this.opts.ownership.nodeId;
  }

  /** Subscribes to `sb.rpc.<nodeId>` and taps the events of owned tenants into `SB_EVENTS`. */
  start(): void {
    void this.watchConnection();
    this.sub = this.opts.nc.subscribe(rpcSubject(this.nodeId), {
      callback: (err, msg) => {
        if (err) return;
        void this.handle(msg.data).then(
          (reply) => this.respond(msg, reply),
          () => {},
        );
      },
    });
    // A gained partition is loaded at once (not on its first call), and a logged tick proves the loaded
    // state is current: if this node kept a stale copy from an earlier lease, the append is fenced and
    // the host reloads it from snapshot + log before serving.
    let warm = 0;
    this.unwarm = this.opts.ownership.onChange((c) => {
      if (!c.owned) return;
      const env: CommandEnvelope = {
        id: `gain:${this.nodeId}:${Date.now()}:${++warm}`,
        at: this.clock.now(),
        cmd: { type: 'tick' },
      };
      this.opts.local.submit(c.partition, env).catch((e) =>
        this.opts.log?.('warm-up after gaining a partition failed', {
          partition: c.partition,
          err: String(e),
        }),
      );
    });
    const events = this.opts.events;
    if (events) {
      this.unwatch = this.opts.ownership.onChange((c) => {
        if (c.owned && !this.eventTaps.has(c.partition)) {
          // One event-stream message per log batch: the host releases a batch whole, the gatherer
          // closes it when the seq changes or the host's synchronous run ends.
          const gather = new EventBatchGatherer(c.partition, (t, seq, evs, inc) =>
            events.publishBatch(t, seq, evs, inc),
          );
          const off = this.opts.local.subscribe({ tenant: c.partition }, (e) => gather.add(e));
          this.eventTaps.set(c.partition, off);
        } else if (!c.owned) {
          this.eventTaps.get(c.partition)?.();
          this.eventTaps.delete(c.partition);
        }
      });
    }
  }

  /**
   * Sends a forwarded call's answer. One larger than the connection's `max_payload` (a big page of a big
   * tenant) cannot travel: the caller gets SB_ERR_PAYLOAD_TOO_LARGE instead, and this node carries on (the
   * client library throws, and a throw here was an unhandled rejection that ended the process).
   */
  private respond(msg: Msg, reply: RpcReply | RpcBatchReply): void {
    const data = enc.encode(JSON.stringify(reply));
    try {
      msg.respond(data);
    } catch (e) {
      const max = this.opts.nc.info?.max_payload;
      this.opts.log?.('forwarded answer not sent', { bytes: data.length, maxPayload: max, err: String(e) });
      const tooLarge: RpcReply = {
        ok: false,
        code: 'SB_ERR_PAYLOAD_TOO_LARGE',
        message: `the answer (${data.length} bytes) exceeds the NATS max_payload (${max ?? '?'} bytes) between nodes; ask for a smaller page, or raise max_payload`,
      };
      try {
        msg.respond(enc.encode(JSON.stringify(tooLarge)));
      } catch {
        // The connection is gone: the caller's attempt times out and retries.
      }
    }
  }

  async stop(): Promise<void> {
    this.unwarm?.();
    this.unwatch?.();
    for (const off of this.eventTaps.values()) off();
    this.eventTaps.clear();
    if (this.sub) {
      this.sub.unsubscribe();
      this.sub = null;
    }
    const events = this.opts.events;
    if (events) await Promise.race([events.flush(), new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  submit(tenant: string, env: CommandEnvelope, deadlineMs?: number): Promise<ApplyResult> {
    const deadline = Date.now() + (deadlineMs ?? this.defaultDeadline);
    return this.route<ApplyResult>(
      tenant,
      deadline,
      0,
      (ms) => this.opts.local.submit(tenant, this.stamped(env), ms),
      (hops) => ({ kind: 'submit', tenant, env, hops }),
      () => this.opts.local.submitIfAbsent?.(tenant, this.stamped(env)) ?? Promise.resolve(null),
    );
  }

  query(tenant: string, q: Query, deadlineMs?: number): Promise<QueryResult> {
    const deadline = Date.now() + (deadlineMs ?? this.defaultDeadline);
    return this.route<QueryResult>(
      tenant,
      deadline,
      0,
      (ms) => this.opts.local.query(tenant, q, ms),
      (hops) => ({ kind: 'query', tenant, q, hops }),
      () => this.opts.local.queryIfAbsent?.(tenant, q) ?? Promise.resolve(null),
    );
  }

  /**
   * DeleteTenant: served by the tenant's owner like any call (claimed first if nobody owns it and it
   * exists or has a deletion to finish; a tenant that does not exist answers `existed: false` without
   * anyone claiming it).
   */
  deleteTenant(tenant: string, force: boolean, deadlineMs?: number): Promise<DeleteTenantResult> {
    const deadline = Date.now() + (deadlineMs ?? this.defaultDeadline);
    return this.route<DeleteTenantResult>(
      tenant,
      deadline,
      0,
      (ms) => this.deleteLocally(tenant, force, ms),
      (hops) => ({ kind: 'delete', tenant, force, hops }),
      () => this.opts.local.deleteIfAbsent?.(tenant) ?? Promise.resolve(null),
    );
  }

  private deleteLocally(tenant: string, force: boolean, ms: number): Promise<DeleteTenantResult> {
    if (!this.opts.local.deleteTenant)
      return Promise.reject(
        new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', 'this node cannot delete tenants'),
      );
    return this.opts.local.deleteTenant(tenant, force, ms);
  }

  /**
   * Tells every node that the tenant was deleted here (its owner): their WatchEvents streams of it end.
   * The host calls it after the tombstone (`PartitionHostOptions.onTenantDeleted`).
   */
  tenantDeleted(tenant: string): void {
    try {
      this.opts.nc.publish(tenantDeletedSubject(tenant));
    } catch (e) {
      this.opts.log?.('tenant deletion not announced', { tenant, err: String(e) });
    }
  }

  subscribe(filter: EventFilter, onEvent: (e: PublishedEvent) => void, onEnd?: () => void): () => void {
    if (!this.opts.events) return this.opts.local.subscribe(filter, onEvent, onEnd);
    const off = subscribeClusterEvents(this.opts.nc, filter, onEvent, this.opts.eventSubjectPrefix);
    if (!onEnd) return off;
    let ended = false;
    const deleted = this.opts.nc.subscribe(tenantDeletedSubject(filter.tenant), {
      callback: (err) => {
        if (err || ended) return;
        ended = true;
        off();
        deleted.unsubscribe();
        onEnd();
      },
    });
    return () => {
      ended = true;
      off();
      deleted.unsubscribe();
    };
  }

  /** A resumed watch's backfill: from `SB_EVENTS` (any node), or the local history without the stream. */
  backfill(filter: EventFilter, after: EventPosition, to: BackfillTo): Promise<void> {
    const events = this.opts.events;
    if (!events) {
      return this.opts.local.backfill
        ? this.opts.local.backfill(filter, after, to)
        : Promise.reject(positionGone(after, 'this node keeps no event history'));
    }
    return events.backfill(filter, after, to, this.opts.nc);
  }

  /**
   * Ready: the host is, and NATS is connected or was lost less than the grace ago. A node cut off from
   * NATS for longer holds no lease (its leases lapse within 0.4 × TTL) and can forward nothing: every call
   * would fail UNAVAILABLE, so it leaves the load balancer until it reconnects. It cannot tell whether the
   * other nodes are cut off too: in a NATS outage of the whole cluster every node goes unready (see
   * deploy/RUNBOOK.md, SwitchboardNodeNotReady).
   */
  ready(): boolean {
    if (!this.opts.local.ready() || this.opts.nc.isClosed()) return false;
    const since = this.natsDownSince;
    return since === null || monotonicClock.now() - since < this.natsGrace;
  }

  /** Follows the NATS connection: when it went down, and when it came back. */
  private async watchConnection(): Promise<void> {
    try {
      for await (const s of this.opts.nc.status()) {
        if (s.type === 'disconnect' || s.type === 'staleConnection') {
          if (this.natsDownSince === null) {
            this.natsDownSince = monotonicClock.now();
            this.opts.log?.(
              `NATS connection lost; this node is not ready if it is not back within ${this.natsGrace} ms`,
              { type: s.type },
            );
          }
        } else if (s.type === 'reconnect' && this.natsDownSince !== null) {
          const downMs = Math.round(monotonicClock.now() - this.natsDownSince);
          this.natsDownSince = null;
          this.opts.log?.('NATS connection back', { downMs });
        }
      }
    } catch {
      // The connection was closed: its status ends with it.
    }
  }

  /**
   * The command as this node serves it: stamped with this node's clock, whichever node received the call
   * (and stamped it with its own). The owner's clock is the one its timers are armed on (`at − now`), and
   * the host keeps a partition's time from moving back, so a stamp from a node whose clock runs ahead
   * would drag the tenant's time forward and hold its timers back by the difference (a node 30 s ahead:
   * every offer timeout of the tenant 30 s late). Before the host records anything of the command (log,
   * quarantine); a retry is stamped anew, and a duplicate is answered from memory whatever its stamp.
   */
  private stamped(env: CommandEnvelope): CommandEnvelope {
    const at = this.clock.now();
    return env.at === at ? env : { ...env, at };
  }

  private async route<T>(
    tenant: string,
    deadline: number,
    hops: number,
    local: (ms: number) => Promise<T>,
    request: (hops: number) => RpcRequest,
    absent: () => Promise<T | null>,
  ): Promise<T> {
    const own = this.opts.ownership;
    let backoff = 25;
    let lastErr: unknown = null;
    let expired = false;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        expired = true;
        break;
      }
      try {
        if (own.owns(tenant)) return await local(left);
        const handing = own.releasing?.(tenant);
        if (handing) {
          // This node drains and snapshots the partition right now; once its key is deleted the next
          // owner claims it (the leaving node's key tells the others where). No bouncing meanwhile.
          if (await settlesWithin(handing, left)) continue;
          expired = true;
          break;
        }
        const owner = own.ownerOf(tenant);
        const target = owner ?? own.desiredOwner(tenant);
        // Claim when nobody holds it and we are the winner — or when another node forwarded it here.
        if (owner === null && (target === this.nodeId || hops > 0)) {
          // Nobody serves it: a tenant that does not exist answers as a blank one for a call that would
          // not create it (a read, a refused command), and nobody claims its lease (no owner key left).
          const blank = await absent();
          if (blank !== null) return blank;
          if (await own.acquire(tenant)) return await local(deadline - Date.now());
        } else if (target && target !== this.nodeId && hops < 2) {
          return await this.forward<T>(target, request(hops + 1), deadline);
        }
      } catch (e) {
        if (!isSwitchboardError(e) || !RETRYABLE.has(e.code)) throw e;
        lastErr = e;
      }
      if (hops > 0) break; // a forwarded call does not loop here: the origin retries
      await new Promise((r) => setTimeout(r, Math.min(backoff, Math.max(0, deadline - Date.now()))));
      backoff = Math.min(200, backoff * 2);
    }
    const why = lastErr ? (lastErr as Error).message : 'lease moving';
    // The caller's time is up, whatever the last attempt said: that is what it is told (gRPC semantics;
    // UNAVAILABLE would invite a retry its own deadline no longer allows).
    if (expired)
      throw new SwitchboardError(
        'SB_ERR_DEADLINE_EXCEEDED',
        `the deadline passed before tenant ${tenant} had a reachable owner (${why})`,
      );
    if (lastErr && isSwitchboardError(lastErr) && hops > 0) throw lastErr;
    throw new SwitchboardError(
      'SB_ERR_UNAVAILABLE',
      `tenant ${tenant} has no reachable owner yet (${why}); retry`,
    );
  }

  private async forward<T>(node: string, req: RpcRequest, deadline: number): Promise<T> {
    // One attempt never waits out the whole deadline: a node that died without closing its connection
    // cleanly looks alive until the server notices, and the retry may find the new owner.
    const timeout = Math.max(1, Math.min(deadline - Date.now(), this.attemptTimeout));
    // Remaining time, not an absolute deadline: the nodes' clocks need not agree.
    req.ms = timeout;
    req.sent = monotonicClock.now();
    req.from = this.origin;
    this.forwarded++;
    let reply: RpcReply;
    try {
      reply = await this.send(node, req, timeout);
    } catch (e) {
      if (isNoResponders(e))
        throw new SwitchboardError('SB_ERR_UNAVAILABLE', `node ${node} is not reachable`);
      if (Date.now() >= deadline) {
        throw new SwitchboardError(
          'SB_ERR_DEADLINE_EXCEEDED',
          `node ${node} did not answer before the deadline`,
        );
      }
      throw new SwitchboardError('SB_ERR_UNAVAILABLE', `forward to ${node} failed: ${(e as Error).message}`);
    }
    if (reply.ok) return reply.result as T;
    throw new SwitchboardError(
      (isSwitchboardError({ code: reply.code }) ? reply.code : 'SB_ERR_INTERNAL') as SwitchboardError['code'],
      reply.message,
    );
  }

  /**
   * Queues a forwarded call; every call queued for `node` in this turn leaves in one request after the
   * poll phase (as the host gathers its micro-batches), answered by one reply with a result per call.
   */
  private send(node: string, req: RpcRequest, timeout: number): Promise<RpcReply> {
    return new Promise((resolve, reject) => {
      let q = this.outgoing.get(node);
      if (!q) {
        q = [];
        this.outgoing.set(node, q);
      }
      q.push({ req, timeout, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushOutgoing);
      }
    });
  }

  private readonly flushOutgoing = (): void => {
    this.flushScheduled = false;
    for (const [node, calls] of this.outgoing) {
      this.outgoing.delete(node);
      void this.sendBatch(node, calls);
    }
  };

  private async sendBatch(node: string, calls: Outgoing[]): Promise<void> {
    // The longest wait among them: each call also carries its own remaining time, which the owner honours.
    let timeout = 1;
    for (const c of calls) timeout = Math.max(timeout, c.timeout);
    this.forwardRequests++;
    try {
      const body: RpcRequest | RpcBatch =
        calls.length === 1
          ? (calls[0] as Outgoing).req
          : { kind: 'batch', calls: calls.map((c) => c.req), ms: timeout };
      const m = await this.opts.nc.request(rpcSubject(node), enc.encode(JSON.stringify(body)), { timeout });
      const reply = decodeForwardedReply(m.data);
      if (calls.length === 1) {
        (calls[0] as Outgoing).resolve(reply as RpcReply);
        return;
      }
      const list = (reply as RpcBatchReply).batch;
      calls.forEach((c, i) => {
        const r = Array.isArray(list) ? list[i] : undefined;
        c.resolve(r ?? (reply as RpcReply));
      });
    } catch (e) {
      for (const c of calls) c.reject(e);
    }
  }

  /** Answers forwarded calls: one, or a batch of them (in order: they are submitted in the order sent). */
  private async handle(data: Uint8Array): Promise<RpcReply | RpcBatchReply> {
    const req = decodeForwarded(data);
    if ('ok' in req) return req;
    const now = monotonicClock.now();
    if (req.batch) return { batch: await Promise.all(req.calls.map((c) => this.handleOne(c, now))) };
    return this.handleOne(req.calls[0] as RpcRequest, now);
  }

  /**
   * Answers one forwarded call (read at `now`, monotonic): serve if we own (or can claim) the tenant, else
   * one more hop — unless it reached this node after its budget was spent. The caller has had its answer
   * (DEADLINE_EXCEEDED) then, and the owner it was meant for reads it late (stopped, stalled): served
   * now, the command would take effect after the caller was told the deadline passed. Not served, it
   * changed nothing, and the caller's retry with the same request id is applied once.
   */
  private async handleOne(req: RpcRequest, now: number): Promise<RpcReply> {
    if (typeof req.sent === 'number' && typeof req.from === 'string' && typeof req.ms === 'number') {
      const late = this.delays.excess(req.from, req.sent, now);
      if (late > req.ms + LATE_MARGIN_MS) {
        this.forwardedTooLate++;
        return {
          ok: false,
          code: 'SB_ERR_DEADLINE_EXCEEDED',
          message: `the call reached the owner ${Math.round(late)} ms late, past its ${req.ms} ms budget: not applied`,
        };
      }
    }
    // As the API checks its callers: anyone with access to the cluster's NATS can publish here.
    const err = checkForwardedCall(req);
    if (err) {
      // Logged at 1, 2, 4, 8… refusals: a signal that something other than a node publishes here.
      if ((++this.forwardedRefused & (this.forwardedRefused - 1)) === 0) {
        this.opts.log?.('forwarded call refused: not one the API would have sent', {
          refused: this.forwardedRefused,
          field: err.field,
          err: err.message.slice(0, 200),
        });
      }
      return { ok: false, code: err.code, message: err.message };
    }
    const deadline = Date.now() + Math.max(1, Math.min(req.ms ?? this.defaultDeadline, 60_000));
    try {
      const result =
        req.kind === 'delete'
          ? await this.route(
              req.tenant,
              deadline,
              req.hops,
              (ms) => this.deleteLocally(req.tenant, req.force === true, ms),
              (hops) => ({ ...req, hops }),
              () => this.opts.local.deleteIfAbsent?.(req.tenant) ?? Promise.resolve(null),
            )
          : req.kind === 'submit'
            ? await this.route(
                req.tenant,
                deadline,
                req.hops,
                (ms) => this.opts.local.submit(req.tenant, this.stamped(req.env), ms),
                (hops) => ({ ...req, hops }),
                () =>
                  this.opts.local.submitIfAbsent?.(req.tenant, this.stamped(req.env)) ??
                  Promise.resolve(null),
              )
            : await this.route(
                req.tenant,
                deadline,
                req.hops,
                (ms) => this.opts.local.query(req.tenant, req.q, ms),
                (hops) => ({ ...req, hops }),
                () => this.opts.local.queryIfAbsent?.(req.tenant, req.q) ?? Promise.resolve(null),
              );
      return { ok: true, result };
    } catch (e) {
      if (isSwitchboardError(e)) return { ok: false, code: e.code, message: e.message };
      this.opts.log?.('forwarded call failed', { err: String(e) });
      return { ok: false, code: 'SB_ERR_INTERNAL', message: 'internal error on the owning node' };
    }
  }
}
