/**
 * `Ownership` on NATS KV: membership in bucket `SB_NODES` (one key per node, heartbeat), partition leases
 * in bucket `SB_LEASES` (one key per partition, value `{owner, at}`), claimed and renewed with revision
 * compare-and-set (`create` / `update(key, value, revision)`), expired by the bucket's TTL with delete
 * markers so every node's watcher sees an expiry as it happens.
 *
 * Safety (never two owners serving): a lease written at local time t is stored by the server at ≥ t and
 * expires there at ≥ t + TTL. The holder counts its lease valid only until t + TTL/2 of its last
 * successful renewal (renewing every TTL/3), and stops serving the instant that passes — before any other
 * node can `create` the key. A contender that sees a lease whose revision did not change for 0.6 × TTL
 * (on its own clock, from when it observed the write, which came after the holder's t) may take it over
 * with a CAS `update`: by then the holder's own t + TTL/2 has passed, with 0.1 × TTL to spare, and the
 * CAS fails if the holder renewed meanwhile. The TTL in question is the holder's, written in the lease,
 * so nodes set differently during a rolling change stay safe. The command log's
 * `expect.lastSubjectSequence` fences whatever slips through (a paused process waking up), so a stale
 * owner can never make a write durable.
 *
 * Failover time: the last renewal a contender saw is at most TTL/3 old when the holder dies, so the
 * partition moves 0.27–0.6 × TTL after the death, plus the load (snapshot + log tail).
 *
 * Spread: each partition belongs to the rendezvous winner among live nodes, leaving out a holder whose
 * lease went stale (it is not serving, whether or not its heartbeat is still seen). A node hands over
 * partitions that now hash elsewhere (stop serving → `beforeRelease` drains → lease deleted with CAS),
 * and claims those that hash to it when their lease is deleted, expires or goes stale.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { type KV, Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { type Clock, type Ownership, type OwnershipChange, systemClock } from '../ports.js';
import { rendezvousOwner } from './rendezvous.js';
import { idToken, LEASES_BUCKET, NODES_BUCKET, tokenToId } from './subjects.js';

export interface KvOwnershipOptions {
  nodeId: string;
  /**
   * Lease TTL on the server, ms (default {@link DEFAULT_LEASE_TTL_MS}). Renewed every TTL/3; a dead
   * holder's partitions move 0.27–0.6 × TTL after its death, plus the load.
   */
  leaseTtlMs?: number;
  /** Membership heartbeat TTL, ms (default = lease TTL). */
  nodeTtlMs?: number;
  /** KV replicas (1 single server; 3 in production). */
  replicas?: number;
  storage?: 'file' | 'memory';
  /** Bucket names (tests use their own). */
  nodesBucket?: string;
  leasesBucket?: string;
  /** A joining node gets partitions handed over only after it has been live this long (default TTL/3). */
  settleMs?: number;
  /** Called after `owned:false` is emitted and before the lease is deleted: drain in-flight work here. */
  beforeRelease?: (partition: string) => Promise<void>;
  /** Claim partitions that hash to this node without waiting for a request (default true). */
  proactive?: boolean;
  clock?: Clock;
  /** Diagnostics sink (the node passes its pino logger). */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

interface LeaseValue {
  owner: string;
  at: number;
  /** Random per process: tells this process's writes from an earlier life of the same node id. */
  inc: string;
  /** The holder's lease TTL, ms: how long a contender must wait is the holder's business. */
  ttl?: number;
}

/**
 * 2 s: a dead node's partitions move within 0.55–1.2 s, plus the load (~0.7 s for 10 000 agents here:
 * `npm run bench:failover`), inside SPEC §5's 2 s; the holder still rides out one lost renewal (valid
 * 1 s after sending one, renewing every 0.67 s). The price is one KV write per partition every 0.67 s.
 */
export const DEFAULT_LEASE_TTL_MS = 2000;

/** A contender may take a lease over after it saw no renewal for this share of the holder's TTL. */
const TAKEOVER_AFTER = 0.6;

/** What this node last saw in the lease bucket for a partition. */
interface Observed {
  owner: string | null;
  revision: number;
  seenAt: number;
  /** The holder's TTL from the lease value (absent: a writer that did not record it, assume ours). */
  ttl?: number;
}

interface Held {
  revision: number;
  validUntil: number;
  releasing: boolean;
  renewing: boolean;
}

interface Member {
  seenAt: number;
  since: number;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function isWrongRevision(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 10071 || code === 10164 || /wrong last sequence/i.test(String((e as Error)?.message ?? ''));
}

function observation(v: LeaseValue | null, revision: number, seenAt: number): Observed {
  const o: Observed = { owner: v?.owner ?? null, revision, seenAt };
  if (typeof v?.ttl === 'number' && v.ttl > 0) o.ttl = v.ttl;
  return o;
}

/** KV-lease ownership. `start()` before use; `stop()` hands every partition over cleanly. */
export class KvOwnership implements Ownership {
  readonly nodeId: string;
  private ttl: number;
  private readonly nodeTtl: number;
  private readonly settle: number;
  private readonly clock: Clock;
  private readonly listeners = new Set<(c: OwnershipChange) => void>();
  private readonly held = new Map<string, Held>();
  private readonly observed = new Map<string, Observed>();
  private readonly members = new Map<string, Member>();
  /**
   * Nodes whose stale lease this node took over: not counted live until their next heartbeat arrives,
   * or partitions would be handed straight back to a dead node whose membership has not run out yet.
   */
  private readonly suspects = new Set<string>();
  private readonly acquiring = new Map<string, Promise<boolean>>();
  private leases!: KV;
  private nodes!: KV;
  private watchers: QueuedIterator<KvWatchEntry>[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private timersOff = false;
  private rebalanceQueued = false;
  private readonly incarnation = randomBytes(6).toString('hex');

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: KvOwnershipOptions,
  ) {
    this.nodeId = opts.nodeId;
    this.ttl = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.nodeTtl = opts.nodeTtlMs ?? this.ttl;
    this.settle = opts.settleMs ?? Math.round(this.ttl / 3);
    this.clock = opts.clock ?? systemClock;
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(msg, { node: this.nodeId, ...fields });
  }

  private async bucket(name: string, ttl: number): Promise<KV> {
    // KV calls give up after 2 s (not the 5 s default) so a NATS restart costs one short wait, not five.
    const kvm = new Kvm(jetstream(this.nc, { timeout: 2000 }));
    const cfg = {
      history: 1,
      ttl,
      // Delete markers make a TTL expiry visible to watchers (server ≥ 2.11); the server's minimum is 1 s.
      markerTTL: Math.max(1000, ttl),
      replicas: this.opts.replicas ?? 1,
      storage: this.opts.storage === 'memory' ? ('memory' as const) : ('file' as const),
    };
    try {
      return await kvm.create(name, cfg);
    } catch (e) {
      // Another node created it first with other settings: theirs stand.
      this.log('kv bucket exists with other settings; opening it', { bucket: name, err: String(e) });
      return kvm.open(name);
    }
  }

  private started = false;
  /** Partitions this node handed over, and until when it must not claim them back unless it is their winner. */
  private readonly cooldown = new Map<string, number>();

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.nodes = await this.bucket(this.opts.nodesBucket ?? NODES_BUCKET, this.nodeTtl);
    this.leases = await this.bucket(this.opts.leasesBucket ?? LEASES_BUCKET, this.ttl);
    // The bucket keeps the TTL of the node that created it, and the server expires leases by that one:
    // a holder must not count its lease valid for longer than the server keeps it.
    const bucketTtl = (await this.leases.status()).ttl;
    if (bucketTtl > 0 && bucketTtl < this.ttl) {
      this.log('lease bucket has a shorter TTL than this node: using the bucket’s', {
        bucketTtl,
        configured: this.ttl,
      });
      this.ttl = bucketTtl;
    }
    await this.heartbeat();
    const nodeWatch = await this.nodes.watch();
    const leaseWatch = await this.leases.watch();
    this.watchers.push(nodeWatch, leaseWatch);
    void this.consume(nodeWatch, (e) => this.onNodeEntry(e));
    void this.consume(leaseWatch, (e) => this.onLeaseEntry(e));
    this.every(Math.round(this.ttl / 3), () => this.renewAll());
    this.every(Math.round(this.nodeTtl / 3), () => this.heartbeat());
    // Local expiry check: drop within TTL/10 after validUntil, far before the server-side expiry.
    this.every(Math.max(20, Math.min(100, Math.round(this.ttl / 10))), () => this.checkExpiry());
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(() => {
      if (!this.timersOff)
        void Promise.resolve(fn()).catch((e) => this.log('ownership task failed', { err: String(e) }));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private async consume(w: QueuedIterator<KvWatchEntry>, fn: (e: KvWatchEntry) => void): Promise<void> {
    try {
      for await (const e of w) fn(e);
    } catch (e) {
      if (!this.stopped) this.log('kv watch ended', { err: String(e) });
    }
  }

  private async heartbeat(): Promise<void> {
    await this.nodes.put(
      idToken(this.nodeId),
      enc.encode(JSON.stringify({ nodeId: this.nodeId, at: this.clock.now() })),
    );
  }

  private onNodeEntry(e: KvWatchEntry): void {
    const id = tokenToId(e.key);
    const now = this.clock.now();
    if (e.operation !== 'PUT') {
      this.suspects.delete(id);
      if (this.members.delete(id)) this.log('node left', { left: id });
    } else {
      if (this.suspects.delete(id)) this.log('node heartbeat after its lease was taken over', { node: id });
      const m = this.members.get(id);
      if (m) m.seenAt = now;
      else {
        this.members.set(id, { seenAt: now, since: now });
        this.log('node joined', { joined: id });
      }
    }
    this.queueRebalance();
  }

  private onLeaseEntry(e: KvWatchEntry): void {
    const p = tokenToId(e.key);
    const now = this.clock.now();
    let v: LeaseValue | null = null;
    if (e.operation === 'PUT') {
      try {
        v = JSON.parse(dec.decode(e.value)) as LeaseValue;
      } catch {
        v = null;
      }
    }
    const owner = v?.owner ?? null;
    const prev = this.observed.get(p);
    if (!prev || prev.revision < e.revision) this.observed.set(p, observation(v, e.revision, now));
    const h = this.held.get(p);
    if (h && e.revision > h.revision && owner !== this.nodeId) {
      // Someone else wrote the key after our last write: expired here, or taken over. Stop at once.
      this.drop(p, owner === null ? 'lease expired on the server' : `lease taken by ${owner}`);
    }
    if (owner === null) this.queueRebalance();
  }

  /** Live nodes: heartbeat seen within the node TTL (this node always counts while started). */
  liveNodes(): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const [id, m] of this.members)
      if (id === this.nodeId || (now - m.seenAt <= this.nodeTtl && !this.suspects.has(id))) out.push(id);
    if (!this.stopped && !this.members.has(this.nodeId)) out.push(this.nodeId);
    return out;
  }

  /**
   * The node that should own the partition by rendezvous hashing over live nodes — without a holder
   * whose lease went stale: it is not serving the partition, so waiting until its heartbeat also runs
   * out (or routing calls to it) would only stretch the failover.
   */
  desiredOwner(partition: string): string | null {
    const live = this.liveNodes();
    const o = this.observed.get(partition);
    if (o?.owner && o.owner !== this.nodeId && this.isStale(o)) {
      return rendezvousOwner(
        partition,
        live.filter((n) => n !== o.owner),
      );
    }
    return rendezvousOwner(partition, live);
  }

  ownedPartitions(): string[] {
    return [...this.held].filter(([, h]) => !h.releasing).map(([p]) => p);
  }

  owns(partition: string): boolean {
    const h = this.held.get(partition);
    return h !== undefined && !h.releasing && h.validUntil > this.clock.now();
  }

  ownerOf(partition: string): string | null {
    if (this.owns(partition)) return this.nodeId;
    const o = this.observed.get(partition);
    if (!o || o.owner === null || o.owner === this.nodeId) return null;
    return this.isStale(o) ? null : o.owner;
  }

  /** A lease nobody renewed for {@link TAKEOVER_AFTER} of its holder's TTL since this node saw it written. */
  private isStale(o: Observed): boolean {
    return this.clock.now() - o.seenAt > TAKEOVER_AFTER * (o.ttl ?? this.ttl);
  }

  onChange(listener: (c: OwnershipChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(c: OwnershipChange): void {
    for (const l of this.listeners) {
      try {
        l(c);
      } catch (e) {
        this.log('ownership listener threw', { err: String(e) });
      }
    }
  }

  private gain(partition: string, revision: number, sentAt: number): void {
    const had = this.owns(partition);
    this.held.set(partition, {
      revision,
      validUntil: sentAt + this.ttl / 2,
      releasing: false,
      renewing: false,
    });
    this.observed.set(partition, { owner: this.nodeId, revision, seenAt: this.clock.now(), ttl: this.ttl });
    if (!had) {
      this.log('partition gained', { partition });
      this.emit({ partition, owned: true });
    }
  }

  private drop(partition: string, reason: string): void {
    const h = this.held.get(partition);
    if (!h) return;
    this.held.delete(partition);
    if (!h.releasing) {
      this.log('partition lost', { partition, reason });
      this.emit({ partition, owned: false });
    }
  }

  acquire(partition: string): Promise<boolean> {
    if (this.owns(partition)) return Promise.resolve(true);
    if (this.stopped || this.held.get(partition)?.releasing) return Promise.resolve(false);
    const until = this.cooldown.get(partition);
    if (until !== undefined) {
      // Just handed over: a late tick or retry on this node must not pull it back (ping-pong).
      if (until > this.clock.now() && this.desiredOwner(partition) !== this.nodeId)
        return Promise.resolve(false);
      this.cooldown.delete(partition);
    }
    const inflight = this.acquiring.get(partition);
    if (inflight) return inflight;
    const p = this.tryAcquire(partition).finally(() => this.acquiring.delete(partition));
    this.acquiring.set(partition, p);
    return p;
  }

  private async tryAcquire(partition: string): Promise<boolean> {
    const o = this.observed.get(partition);
    if (o && o.owner !== null && o.owner !== this.nodeId && !this.isStale(o)) return false;
    const key = idToken(partition);
    const value = () =>
      enc.encode(
        JSON.stringify({
          owner: this.nodeId,
          at: this.clock.now(),
          inc: this.incarnation,
          ttl: this.ttl,
        } satisfies LeaseValue),
      );
    const sentAt = this.clock.now();
    try {
      const rev = await this.leases.create(key, value());
      this.gain(partition, rev, sentAt);
      return true;
    } catch (e) {
      if (!isWrongRevision(e)) {
        this.log('lease create failed', { partition, err: String(e) });
        return false;
      }
    }
    const cur = await this.leases.get(key);
    if (!cur) return false;
    const curValue = cur.operation === 'PUT' ? cur.json<LeaseValue>() : null;
    const curOwner = curValue?.owner ?? null;
    const prev = this.observed.get(partition);
    if (!prev || prev.revision < cur.revision) {
      this.observed.set(partition, observation(curValue, cur.revision, this.clock.now()));
    }
    const seen = this.observed.get(partition) as Observed;
    // Ours from an earlier life of this node id, or abandoned for a full TTL: take it with CAS.
    if (curOwner === this.nodeId || curOwner === null || this.isStale(seen)) {
      this.log('lease takeover attempt', {
        partition,
        curOwner,
        revision: cur.revision,
        seenAgo: this.clock.now() - seen.seenAt,
      });
      const sent = this.clock.now();
      try {
        const rev = await this.leases.update(key, value(), cur.revision);
        if (curOwner !== null && curOwner !== this.nodeId) this.suspects.add(curOwner);
        this.gain(partition, rev, sent);
        return true;
      } catch (e) {
        if (!isWrongRevision(e)) this.log('lease takeover failed', { partition, err: String(e) });
        return false;
      }
    }
    return false;
  }

  private async renewAll(): Promise<void> {
    const key = (p: string) => idToken(p);
    await Promise.all(
      [...this.held].map(async ([p, h]) => {
        if (h.renewing) return;
        h.renewing = true;
        const sent = this.clock.now();
        try {
          const rev = await this.leases.update(
            key(p),
            enc.encode(
              JSON.stringify({
                owner: this.nodeId,
                at: sent,
                inc: this.incarnation,
                ttl: this.ttl,
              } satisfies LeaseValue),
            ),
            h.revision,
            Math.round(this.ttl / 3),
          );
          const now = this.held.get(p);
          if (now === h) {
            h.revision = rev;
            h.validUntil = sent + this.ttl / 2;
          }
        } catch (e) {
          if (isWrongRevision(e)) {
            // A renewal that timed out may still have landed: if the key holds our own write, adopt it.
            const cur = await this.leases.get(key(p)).catch(() => null);
            const v = cur?.operation === 'PUT' ? cur.json<LeaseValue>() : null;
            if (cur && v?.owner === this.nodeId && v.inc === this.incarnation && this.held.get(p) === h) {
              h.revision = cur.revision;
            } else this.drop(p, 'lease renewal lost the compare-and-set');
          } else
            this.log('lease renewal failed; will retry until the lease runs out', {
              partition: p,
              err: String(e),
            });
        } finally {
          h.renewing = false;
        }
      }),
    );
  }

  private checkExpiry(): void {
    const now = this.clock.now();
    for (const [p, h] of this.held)
      if (!h.releasing && h.validUntil <= now) this.drop(p, 'lease not renewed in time');
    // Members whose heartbeat stopped (a marker may be late or lost): rebalance without them.
    for (const [id, m] of this.members) {
      if (id !== this.nodeId && now - m.seenAt > this.nodeTtl * 1.5) {
        this.members.delete(id);
        this.log('node timed out', { left: id });
        this.queueRebalance();
      }
    }
    if (this.opts.proactive !== false) {
      for (const [p, o] of this.observed) {
        if (o.owner !== null && o.owner !== this.nodeId && this.isStale(o) && !this.held.has(p))
          this.queueRebalance();
      }
    }
  }

  private queueRebalance(): void {
    if (this.rebalanceQueued || this.stopped) return;
    this.rebalanceQueued = true;
    setImmediate(() => {
      this.rebalanceQueued = false;
      void this.rebalance().catch((e) => this.log('rebalance failed', { err: String(e) }));
    });
  }

  /** Hands over what hashes elsewhere; claims what hashes here and nobody holds. */
  async rebalance(): Promise<void> {
    if (this.stopped) return;
    const live = this.liveNodes();
    const now = this.clock.now();
    const work: Promise<unknown>[] = [];
    for (const [p, h] of this.held) {
      if (h.releasing) continue;
      const want = rendezvousOwner(p, live);
      const m = want ? this.members.get(want) : undefined;
      if (want && want !== this.nodeId && m && now - m.since >= this.settle) work.push(this.release(p));
    }
    if (this.opts.proactive !== false) {
      for (const [p, o] of this.observed) {
        if (this.held.has(p)) continue;
        const free = o.owner === null || o.owner === this.nodeId || this.isStale(o);
        if (free && this.desiredOwner(p) === this.nodeId) work.push(this.acquire(p));
      }
    }
    await Promise.all(work);
  }

  /** Stop serving, let the host drain, then delete the lease (CAS) so the new owner can claim it. */
  async release(partition: string): Promise<void> {
    const h = this.held.get(partition);
    if (!h || h.releasing) return;
    // New calls stop coming here at once (`owns` is false) and are retried towards the next owner, while
    // the lease stays ours (and renewed) so the host can finish and snapshot what it already accepted.
    h.releasing = true;
    this.cooldown.set(partition, this.clock.now() + 2 * this.ttl);
    try {
      await this.opts.beforeRelease?.(partition);
    } catch (e) {
      this.log('beforeRelease failed', { partition, err: String(e) });
    }
    this.log('partition handed over', { partition });
    this.emit({ partition, owned: false });
    // No renewal may race the delete (it would bump the revision and make the delete's CAS fail).
    while (h.renewing) await new Promise((r) => setTimeout(r, 5));
    h.renewing = true;
    try {
      await this.leases.delete(idToken(partition), { previousSeq: h.revision });
    } catch (e) {
      if (!isWrongRevision(e))
        this.log('lease delete failed (it will expire)', { partition, err: String(e) });
    }
    if (this.held.get(partition) === h) this.held.delete(partition);
  }

  /**
   * True while this node's lease on the partition is valid, including during a hand-over (when `owns`
   * is already false): appends of work accepted before the hand-over are still allowed.
   */
  holdsLease(partition: string): boolean {
    const h = this.held.get(partition);
    return h !== undefined && h.validUntil > this.clock.now();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // Renewals go on while the partitions are handed over, then every timer stops.
    await Promise.all([...this.held.keys()].map((p) => this.release(p)));
    this.timersOff = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.nodes.delete(idToken(this.nodeId)).catch(() => {});
    for (const w of this.watchers) w.stop();
    this.watchers = [];
  }
}
