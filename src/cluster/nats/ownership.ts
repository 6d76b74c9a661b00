/**
 * `Ownership` on NATS KV with **node leases**: each node holds one lease, its key in bucket `SB_NODES`
 * (`{nodeId, inc, ttl, at}`), renewed with revision compare-and-set every TTL/10; each partition's key in
 * bucket `SB_OWNERS` (`{owner, inc, at}`) is written only when the partition changes hands. So the KV
 * writes a cluster makes to stay alive grow with its nodes, not with its tenants (per-partition leases
 * cost one write per tenant every renewal: 1 500 fsyncs/s for 1 000 tenants renewed every 0.67 s).
 *
 * Safety (never two owners serving): a node that renewed its lease at local time t counts every partition
 * it holds valid only until t + 0.4 × TTL, and stops serving the instant that passes. A contender may take a
 * partition over only from an owner that is gone: its node key deleted or expired, written by another
 * incarnation, already fenced, or not renewed for 0.5 × the owner's TTL (written in its key) since the
 * contender saw it written. In the last case the contender first **fences** the owner: a CAS write of the
 * owner's node key at the revision it judged stale. By then the owner's own t + 0.4 × TTL has passed (0.1 ×
 * TTL to spare); and since every renewal is a CAS on the same key, either the fence fails (the owner
 * renewed: it is alive, nothing is taken) or the owner's next renewal fails (it drops everything and
 * registers afresh, holding nothing). A renewal that succeeds therefore proves nobody took any of the
 * node's partitions since the one before. The partition key itself changes hands by CAS, so two
 * contenders cannot both win it, and the command log's `expect.lastSubjectSequence` fences whatever slips
 * through (a paused process waking up), so a stale owner can never make a write durable.
 *
 * Failover time: the last renewal a contender saw is at most TTL/10 old when the owner dies, so its
 * partitions move 0.4–0.5 × TTL after the death, plus the load. Renewing ten times per TTL (cheap: one
 * write per node) lets a node's event loop run 0.3 × TTL late (600 ms at the default, more than the
 * 500 ms `--max-loop-lag-ms` at which it sheds load) before its lease lapses, while keeping that short.
 *
 * Spread: rendezvous hashing with bounded loads (`rendezvous.ts`): each partition goes to the first node
 * in its rendezvous preference order that has room under ⌈1.25 × partitions / nodes⌉, partitions taken in
 * a fixed order. Every node computes it from its own view — the partitions it has seen in `SB_OWNERS`
 * (deleted keys included: a key deleted during a hand-over stays in the view) and the nodes that may be
 * serving (live and renewed within 0.5 × TTL: a node past that is one a contender may take over from) —
 * so nodes that have read the same KV entries want the same owners. A node hands over partitions wanted
 * elsewhere (stop serving → `beforeRelease` drains → partition key deleted with CAS), and claims those
 * wanted here when their key is deleted or their owner is gone. The wanted owner decides only that: who
 * may take a partition, and how, is the lease and fencing above, unchanged.
 *
 * Graceful stop (`handOver`): the node first renews its key marked `leaving`, which takes it out of the
 * placement on every node (it still serves what it holds), then hands its partitions over a few at a
 * time; each is claimed by its new wanted owner as soon as its key is deleted, while the rest are still served
 * here. Calls that reach it for a partition it is handing over wait for that one hand-over (`releasing`).
 */
import { randomBytes } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { type Clock, monotonicClock, type Ownership, type OwnershipChange } from '../ports.js';
import { BoundedSpread, type OneMorePlacement } from './rendezvous.js';
import { DEFAULT_STARTUP_MS, onExistingStream, untilReady } from './startup.js';
import { updateStream } from './streams.js';
import { idToken, NODES_BUCKET, OWNERS_BUCKET, tokenToId } from './subjects.js';

export interface KvOwnershipOptions {
  nodeId: string;
  /**
   * Node lease TTL, ms (default {@link DEFAULT_LEASE_TTL_MS}): the server expires a node key this long
   * after its last write. Renewed every TTL/10; a dead node's partitions move 0.4–0.5 × TTL after its
   * death, plus the load.
   */
  leaseTtlMs?: number;
  /** KV replicas (1 single server; 3 in production). */
  replicas?: number;
  storage?: 'file' | 'memory';
  /** Bucket names (tests use their own). */
  nodesBucket?: string;
  ownersBucket?: string;
  /** A joining node gets partitions handed over only after it has been live this long (default TTL/3). */
  settleMs?: number;
  /** Called after `owned:false` is emitted and before the partition key is deleted: drain in-flight work here. */
  beforeRelease?: (partition: string) => Promise<void>;
  /** Claim partitions that hash to this node without waiting for a request (default true). */
  proactive?: boolean;
  clock?: Clock;
  /** Diagnostics sink (the node passes its pino logger). */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** How long `start()` retries steps that fail because JetStream is not ready yet, ms (default {@link DEFAULT_STARTUP_MS}). */
  startupMs?: number;
}

/**
 * 2 s: a dead node's partitions move within 0.8–1.0 s, plus the load (~0.5 s for 10 000 agents here:
 * `npm run bench:failover`), inside SPEC §5's 2 s; a node rides out lost renewals and event-loop stalls
 * of up to 0.6 s (valid 0.8 s after sending one, renewing every 0.2 s). The price is one KV write per
 * node every 0.2 s.
 */
export const DEFAULT_LEASE_TTL_MS = 2000;

/** A node renews its lease every this share of its TTL. */
const RENEW_EVERY = 0.1;
/** … and counts it (and every partition it holds) valid for this share after sending a renewal. */
const VALID_FOR = 0.4;
/** A contender may declare an owner gone after it saw no renewal for this share of the owner's TTL. */
const TAKEOVER_AFTER = 0.5;

/** A node's lease, the value of its key in `SB_NODES`. */
export interface NodeValue {
  nodeId: string;
  /** Random per process: tells this process's writes from an earlier life of the same node id. */
  inc: string;
  /** The node's lease TTL, ms: how long a contender must wait is the owner's business. */
  ttl: number;
  at: number;
  /** Set by the node that declared this incarnation gone; the node must register afresh. */
  fencedBy?: string;
  /**
   * Set by a node that is stopping (`handOver`): it still serves what it holds, but is left out of the
   * placement, so the partitions it hands over are claimed by the others at once (older builds ignore it).
   */
  leaving?: true;
}

/** A partition's owner, the value of its key in `SB_OWNERS`. */
export interface OwnerValue {
  owner: string;
  inc: string;
  at: number;
}

/** What this node last saw of another node's lease. */
interface Member {
  /** Null once the key was deleted or expired. */
  value: NodeValue | null;
  revision: number;
  /** When this node saw that revision (its own clock). */
  seenAt: number;
  /** When this node first saw it live (for `settleMs`). */
  since: number;
}

/** What this node last saw in `SB_OWNERS` for a partition. */
interface Observed {
  owner: string | null;
  inc: string | null;
  revision: number;
}

interface Held {
  /** Revision of this node's write of the partition key. */
  revision: number;
  releasing: boolean;
  /** While releasing: settles once the partition key is deleted (or the delete failed). */
  released?: Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { ignoreBOM: true });

function isWrongRevision(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 10071 || code === 10164 || /wrong last sequence/i.test(String((e as Error)?.message ?? ''));
}

function parse<T>(e: { operation: string; value: Uint8Array }): T | null {
  if (e.operation !== 'PUT') return null;
  try {
    return JSON.parse(dec.decode(e.value)) as T;
  } catch {
    return null;
  }
}

/** A `SB_NODES` value as this build reads it (null: not one); fields it does not know are ignored. */
export function decodeNodeValue(value: Uint8Array): NodeValue | null {
  return parse<NodeValue>({ operation: 'PUT', value });
}

/** A `SB_OWNERS` value as this build reads it (null: not one); fields it does not know are ignored. */
export function decodeOwnerValue(value: Uint8Array): OwnerValue | null {
  return parse<OwnerValue>({ operation: 'PUT', value });
}

function ownerObservation(v: OwnerValue | null, revision: number): Observed {
  return { owner: v?.owner ?? null, inc: v?.inc ?? null, revision };
}

/**
 * A map that says when its set of keys changes (a key added or removed; a new value for a key is no
 * change): the partitions of this node's view, whose cached spread is valid until then.
 */
class KeySetMap<K, V> extends Map<K, V> {
  constructor(private readonly changed: () => void) {
    super();
  }

  override set(k: K, v: V): this {
    if (!this.has(k)) this.changed();
    return super.set(k, v);
  }

  override delete(k: K): boolean {
    const gone = super.delete(k);
    if (gone) this.changed();
    return gone;
  }

  override clear(): void {
    if (this.size > 0) this.changed();
    super.clear();
  }
}

/** The spread of one view (its nodes, its partitions), computed once for every call that asks it. */
interface SpreadView {
  /** The view's nodes, sorted and joined. */
  nodesKey: string;
  /** `viewChanges` when it was computed. */
  version: number;
  nodes: string[];
  partitions: string[];
  /** The wanted owner of every partition of the view. */
  owners: Map<string, string>;
  /** Where a partition outside the view would go (computed at the first such call). */
  oneMore: OneMorePlacement | null;
}

/** KV ownership with node leases. `start()` before use; `stop()` hands every partition over cleanly. */
export class KvOwnership implements Ownership {
  readonly nodeId: string;
  private ttl: number;
  private readonly settle: number;
  private readonly clock: Clock;
  private readonly listeners = new Set<(c: OwnershipChange) => void>();
  /** Changes of the view's partitions (keys of `held` and `observed`): the cached spread is stale. */
  private viewChanges = 0;
  private readonly held = new KeySetMap<string, Held>(() => this.viewChanges++);
  private readonly observed = new KeySetMap<string, Observed>(() => this.viewChanges++);
  private readonly members = new Map<string, Member>();
  private readonly acquiring = new Map<string, Promise<boolean>>();
  /** Partitions this node handed over, and until when it must not claim them back unless it is their winner. */
  private readonly cooldown = new Map<string, number>();
  private owners!: KV;
  private nodes!: KV;
  private watchers: QueuedIterator<KvWatchEntry>[] = [];
  private timers: NodeJS.Timeout[] = [];
  private started = false;
  private stopped = false;
  /** Stopping: handing its partitions over, claiming none (`handOver`). */
  private leaving = false;
  /** A renewal that carried `leaving` went through: the other nodes place nothing here any more. */
  private leavingAnnounced = false;
  private timersOff = false;
  private rebalanceQueued = false;
  private readonly incarnation = randomBytes(6).toString('hex');
  /** The bounded-load spread (caches preference lists; `wanted` computes owners from this node's view). */
  private readonly spread = new BoundedSpread();
  /**
   * The last view's spread, valid while the spread's nodes are the same and no partition joined or left
   * the view (`viewChanges`): the same view, the same owners. A call then costs O(nodes), not O(partitions).
   */
  private spreadView: SpreadView | null = null;
  /** Revision of this node's last write of its own key; null = not registered (or fenced). */
  private selfRevision: number | null = null;
  /** Every held partition is valid until then (monotonic clock): VALID_FOR × TTL after the last renewal sent. */
  private validUntil = 0;
  private renewing = false;
  /**
   * Times this node's lease was lost, by how: `fenced` by another node, `expired` on the server, or
   * `lapsed` (no renewal went through in time: every partition dropped until one does). Each drops every
   * partition the node holds; `switchboard_node_lease_lost_total` exports them.
   */
  readonly leaseLosses = { fenced: 0, expired: 0, lapsed: 0 };
  /** Renewals (and re-registrations) of this node's lease that failed: `switchboard_node_lease_renewal_failures_total`. */
  renewalFailures = 0;
  /** The failures in a row now: since when (monotonic), how many; null while renewals go through. */
  private failing: { since: number; count: number } | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: KvOwnershipOptions,
  ) {
    this.nodeId = opts.nodeId;
    this.ttl = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    this.settle = opts.settleMs ?? Math.round(this.ttl / 3);
    this.clock = opts.clock ?? monotonicClock;
  }

  /** This node's lease TTL, ms (the bucket's, if shorter: see `start`). */
  get leaseTtlMs(): number {
    return this.ttl;
  }

  private log(msg: string, fields?: Record<string, unknown>): void {
    this.opts.log?.(msg, { node: this.nodeId, ...fields });
  }

  private async bucket(name: string, ttl: number): Promise<KV> {
    // KV calls give up after 2 s (not the 5 s default) so a NATS restart costs one short wait, not five.
    const kvm = new Kvm(jetstream(this.nc, { timeout: 2000 }));
    const cfg = {
      history: 1,
      ...(ttl > 0
        ? // Delete markers make a TTL expiry visible to watchers (server ≥ 2.11); the server's minimum is 1 s.
          { ttl, markerTTL: Math.max(1000, ttl) }
        : {}),
      replicas: this.opts.replicas ?? 1,
      storage: this.opts.storage === 'memory' ? ('memory' as const) : ('file' as const),
    };
    let kv: KV;
    try {
      kv = await kvm.create(name, cfg);
    } catch (e) {
      // Another node created it first with other settings: theirs stand.
      this.log('kv bucket exists with other settings; opening it', { bucket: name, err: String(e) });
      kv = await kvm.open(name);
    }
    // `create` keeps a bucket that exists as it is; its replicas follow --nats-replicas like the streams'.
    // The bucket's stream exists now, yet may not be visible for a moment (see StreamNotVisibleError).
    const stream = `KV_${name}`;
    const { streamInfo } = await onExistingStream(stream, () => kv.status());
    await onExistingStream(stream, async () =>
      updateStream(
        await jetstreamManager(this.nc, { timeout: 2000 }),
        streamInfo.config,
        { name: streamInfo.config.name, num_replicas: cfg.replicas },
        this.opts.log,
      ),
    );
    return kv;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    // A fresh R3 bucket has no leader for a moment: each step waits for JetStream (see startup.ts).
    const opts = {
      until: Date.now() + (this.opts.startupMs ?? DEFAULT_STARTUP_MS),
      ...(this.opts.log ? { log: this.opts.log } : {}),
    };
    const ready = <T>(what: string, step: () => Promise<T>) => untilReady(what, step, opts);
    // After their steps both buckets exist: a "stream not found" is one not visible yet, as in `bucket`.
    const onBucket = <T>(what: string, bucket: string, step: () => Promise<T>) =>
      ready(what, () => onExistingStream(`KV_${bucket}`, step));
    const nodesBucket = this.opts.nodesBucket ?? NODES_BUCKET;
    const ownersBucket = this.opts.ownersBucket ?? OWNERS_BUCKET;
    this.nodes = await ready('node lease bucket', () => this.bucket(nodesBucket, this.ttl));
    // Partition keys are written only when they change hands: no TTL (they must not expire while held).
    this.owners = await ready('owner bucket', () => this.bucket(ownersBucket, 0));
    // The bucket keeps the TTL of the node that created it, and the server expires node keys by that one:
    // a node must not count its lease valid for longer than the server keeps it.
    const bucketTtl = (await onBucket('node lease bucket status', nodesBucket, () => this.nodes.status()))
      .ttl;
    if (bucketTtl > 0 && bucketTtl < this.ttl) {
      this.log('node bucket has a shorter TTL than this node: using the bucket’s', {
        bucketTtl,
        configured: this.ttl,
      });
      this.ttl = bucketTtl;
    }
    await onBucket('node lease registration', nodesBucket, () => this.register());
    const nodeWatch = await onBucket('node lease watch', nodesBucket, () => this.nodes.watch());
    const ownerWatch = await onBucket('owner watch', ownersBucket, () => this.owners.watch());
    this.watchers.push(nodeWatch, ownerWatch);
    void this.consume(nodeWatch, (e) => this.onNodeEntry(e));
    void this.consume(ownerWatch, (e) => this.onOwnerEntry(e));
    this.every(Math.round(this.ttl * RENEW_EVERY), () => this.renew());
    // Emits the loss within 100 ms of validUntil (`owns` itself compares with the clock on every call).
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

  // ---- this node's lease ---------------------------------------------------------------------------

  private selfValue(at: number): Uint8Array {
    return enc.encode(
      JSON.stringify({
        nodeId: this.nodeId,
        inc: this.incarnation,
        ttl: this.ttl,
        at,
        ...(this.leaving ? { leaving: true as const } : {}),
      } satisfies NodeValue),
    );
  }

  /** Writes this node's key afresh (first start, or after it was fenced or expired): holds nothing yet. */
  private async register(): Promise<void> {
    const key = idToken(this.nodeId);
    const sent = this.clock.now();
    let rev: number;
    try {
      rev = await this.nodes.create(key, this.selfValue(sent));
    } catch (e) {
      if (!isWrongRevision(e)) throw e;
      // An earlier life of this node id, or a fence: overwrite it at the revision read.
      const cur = await this.nodes.get(key);
      rev = await this.nodes.update(key, this.selfValue(sent), cur?.revision ?? 0);
    }
    this.selfRevision = rev;
    this.validUntil = sent + this.ttl * VALID_FOR;
    this.log('node lease registered', { revision: rev });
  }

  private async renew(): Promise<void> {
    if (this.renewing) return;
    this.renewing = true;
    try {
      if (this.selfRevision === null) {
        try {
          await this.register();
        } catch (e) {
          this.renewalFailed(e);
          return;
        }
        this.renewalsBack();
        this.queueRebalance();
        return;
      }
      const sent = this.clock.now();
      const leaving = this.leaving;
      try {
        const rev = await this.nodes.update(
          idToken(this.nodeId),
          this.selfValue(sent),
          this.selfRevision,
          Math.round(this.ttl * RENEW_EVERY),
        );
        this.selfRevision = rev;
        if (leaving) this.leavingAnnounced = true;
        this.renewalsBack();
        // The CAS went through, so nobody fenced this node since its last write, and nobody took any of
        // its partitions: valid again even after a lapse (NATS down a while). What a lapse dropped is
        // claimed back by the rebalance, by CAS like anyone's.
        const lapsed = this.validUntil <= sent;
        // Lapsed and back before the expiry check dropped anything (it counts the lapse when it does):
        // the tenants went unserved meanwhile.
        if (lapsed) this.lapse(this.ownedPartitions().length);
        this.validUntil = sent + this.ttl * VALID_FOR;
        if (lapsed) this.queueRebalance();
      } catch (e) {
        if (!isWrongRevision(e)) {
          this.renewalFailed(e);
          return;
        }
        // A renewal that timed out may still have landed: if the key holds our own write, adopt it.
        const cur = await this.nodes.get(idToken(this.nodeId)).catch(() => null);
        const v = cur ? parse<NodeValue>(cur) : null;
        if (cur && v && v.inc === this.incarnation && !v.fencedBy) {
          this.selfRevision = cur.revision;
          return;
        }
        this.lost(v);
      }
    } finally {
      this.renewing = false;
    }
  }

  /**
   * Counts a failed renewal (NATS unreachable or slow). Logged once per run of failures, not every TTL/10:
   * the run's end says how long it lasted and how many failed (`renewalsBack`).
   */
  private renewalFailed(e: unknown): void {
    this.renewalFailures++;
    if (this.failing) {
      this.failing.count++;
      return;
    }
    this.failing = { since: this.clock.now(), count: 1 };
    this.log(
      'node lease renewal failed; retrying every TTL/10 until one goes through (the lease lapses 0.4 × TTL after the last one)',
      { err: String(e), every: Math.round(this.ttl * RENEW_EVERY) },
    );
  }

  /** A renewal (or registration) went through: ends a run of failures, saying how it went. */
  private renewalsBack(): void {
    const f = this.failing;
    if (!f) return;
    this.failing = null;
    this.log('node lease renewals go through again', {
      failedForMs: Math.round(this.clock.now() - f.since),
      failed: f.count,
    });
  }

  /**
   * This node's lease is gone — fenced by another node, or expired (`current`: what its key holds now):
   * drop everything; the next renewal registers afresh.
   */
  private lost(current: NodeValue | null): void {
    const by = current?.fencedBy;
    this.leaseLosses[by ? 'fenced' : 'expired']++;
    this.selfRevision = null;
    this.validUntil = 0;
    const reason = by ? `fenced by ${by}` : 'node lease expired on the server';
    for (const p of [...this.held.keys()]) this.drop(p, `node lease lost: ${reason}`);
  }

  /** Counts a lapse that left `partitions` held partitions unserved (none: nothing was lost). */
  private lapse(partitions: number): void {
    if (partitions === 0) return;
    this.leaseLosses.lapsed++;
    this.log('node lease lapsed: no renewal went through in time', { partitions });
  }

  private checkExpiry(): void {
    const now = this.clock.now();
    if (this.validUntil <= now) {
      let dropped = 0;
      for (const [p, h] of this.held) {
        if (h.releasing) continue;
        this.drop(p, 'node lease not renewed in time');
        dropped++;
      }
      // Counted once: what was dropped is no longer held, at the next check or the next renewal.
      this.lapse(dropped);
    }
    // Members whose key expired without a marker reaching us (a marker may be late or lost).
    for (const [id, m] of this.members) {
      if (id !== this.nodeId && m.value && now - m.seenAt > m.value.ttl * 1.5) {
        this.members.delete(id);
        this.log('node timed out', { left: id });
        this.queueRebalance();
      }
    }
    if (this.opts.proactive !== false) {
      for (const [p, o] of this.observed) {
        if (o.owner !== null && !this.held.has(p) && !this.ownerAlive(o)) {
          this.queueRebalance();
          break;
        }
      }
    }
  }

  // ---- what this node sees -------------------------------------------------------------------------

  private onNodeEntry(e: KvWatchEntry): void {
    const id = tokenToId(e.key);
    const now = this.clock.now();
    const v = parse<NodeValue>(e);
    if (id === this.nodeId) {
      // Our own key rewritten by someone else (fenced) or expired: everything we held is gone.
      const foreign = v === null || v.inc !== this.incarnation || v.fencedBy !== undefined;
      if (foreign && this.selfRevision !== null && e.revision > this.selfRevision) {
        this.lost(v);
      }
      return;
    }
    const m = this.members.get(id);
    if (m && m.revision >= e.revision) return;
    const wasLive = m?.value != null && m.value.fencedBy === undefined;
    const live = v !== null && v.fencedBy === undefined;
    // A node is "since" its registration: a new incarnation or a return from a fence starts it anew.
    const fresh = !wasLive || m?.value?.inc !== v?.inc;
    this.members.set(id, {
      value: v,
      revision: e.revision,
      seenAt: now,
      since: fresh ? now : (m?.since ?? now),
    });
    if (live && fresh) this.log('node joined', { joined: id });
    if (live && v?.leaving && !m?.value?.leaving) this.log('node leaving', { leaving: id });
    if (!live && wasLive) this.log(v === null ? 'node left' : 'node fenced', { left: id, by: v?.fencedBy });
    this.queueRebalance();
  }

  private onOwnerEntry(e: KvWatchEntry): void {
    const p = tokenToId(e.key);
    if (e.operation === 'PURGE') {
      // Given up for a tenant that does not exist (deleted, or never created: `relinquish`): nobody
      // claims it until a call needs it; a handover deletes (DEL) instead, and the winner claims it.
      const h = this.held.get(p);
      if (h && e.revision > h.revision) this.drop(p, 'partition key purged');
      // Out of the view: the spread's cap and order change, so others may be wanted elsewhere now.
      if (this.observed.delete(p)) this.queueRebalance();
      return;
    }
    const v = parse<OwnerValue>(e);
    const prev = this.observed.get(p);
    if (!prev || prev.revision < e.revision) {
      this.observed.set(p, ownerObservation(v, e.revision));
    }
    const h = this.held.get(p);
    if (h && e.revision > h.revision && (v?.owner !== this.nodeId || v.inc !== this.incarnation)) {
      // Someone else wrote the key after our last write: taken over, or deleted by hand. Stop at once.
      this.drop(p, v === null ? 'partition key deleted' : `partition taken by ${v.owner}`);
    }
    // A partition new to the view changes the spread's cap and order: others may be wanted elsewhere now.
    if (v === null || !prev) this.queueRebalance();
  }

  /** An owner that may be serving: its lease present, same incarnation, not fenced, renewed lately. */
  private ownerAlive(o: Observed): boolean {
    if (o.owner === null) return false;
    if (o.owner === this.nodeId) return o.inc === this.incarnation && this.validUntil > this.clock.now();
    const m = this.members.get(o.owner);
    if (!m?.value || m.value.fencedBy !== undefined || m.value.inc !== o.inc) return false;
    return this.clock.now() - m.seenAt <= TAKEOVER_AFTER * m.value.ttl;
  }

  /**
   * Nodes partitions are placed on: registered, not fenced, seen within their TTL, and not leaving (this
   * node counts until it starts leaving). A leaving node still serves what it holds (`ownerAlive`).
   */
  liveNodes(): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const [id, m] of this.members) {
      const v = m.value;
      if (v && v.fencedBy === undefined && !v.leaving && now - m.seenAt <= v.ttl) out.push(id);
    }
    if (!this.stopped && !this.leaving) out.push(this.nodeId);
    return out;
  }

  /**
   * The nodes the spread places partitions on: live ones that may be serving — this node, and members
   * renewed within 0.5 × their TTL. One past that has stopped serving (0.4 × TTL) and is one a contender
   * may take over from: placing partitions there (or routing calls to it) would only stretch a failover.
   */
  private spreadNodes(): string[] {
    const now = this.clock.now();
    return this.liveNodes().filter((id) => {
      if (id === this.nodeId) return true;
      const m = this.members.get(id);
      return m?.value != null && now - m.seenAt <= TAKEOVER_AFTER * m.value.ttl;
    });
  }

  /**
   * The wanted owner of every partition in this node's view (`SB_OWNERS` keys seen, deleted ones too, and
   * those held): the bounded-load spread over {@link spreadNodes}. Nodes with the same view want the same
   * owners.
   */
  private wanted(): Map<string, string> {
    return this.view().owners;
  }

  /** The spread of the current view: cached until its nodes or its partitions change. */
  private view(): SpreadView {
    const nodes = this.spreadNodes().sort();
    const nodesKey = nodes.join('\0');
    const cached = this.spreadView;
    if (cached && cached.nodesKey === nodesKey && cached.version === this.viewChanges) return cached;
    const partitions = [...this.observed.keys()];
    for (const p of this.held.keys()) if (!this.observed.has(p)) partitions.push(p);
    const view: SpreadView = {
      nodesKey,
      version: this.viewChanges,
      nodes,
      partitions,
      owners: this.spread.assign(partitions, nodes),
      oneMore: null,
    };
    this.spreadView = view;
    return view;
  }

  /**
   * The node that should own the partition: the bounded-load spread of this node's view, with the
   * partition in it, over the nodes that may be serving (see {@link wanted}). One outside the view (a
   * tenant asked about before its key exists: a new tenant, or a stray id) is placed by
   * `BoundedSpread.oneMore`: the same answer as spreading the whole view plus it, without doing so at
   * every such call.
   */
  desiredOwner(partition: string): string | null {
    const view = this.view();
    const owner = view.owners.get(partition);
    if (owner !== undefined) return owner;
    if (this.observed.has(partition) || this.held.has(partition)) return null;
    view.oneMore ??= this.spread.oneMore(view.partitions, view.nodes);
    return view.oneMore.ownerOf(partition);
  }

  ownedPartitions(): string[] {
    return [...this.held].filter(([, h]) => !h.releasing).map(([p]) => p);
  }

  owns(partition: string): boolean {
    const h = this.held.get(partition);
    return h !== undefined && !h.releasing && this.validUntil > this.clock.now();
  }

  ownerOf(partition: string): string | null {
    if (this.owns(partition)) return this.nodeId;
    const o = this.observed.get(partition);
    if (!o || o.owner === null || o.owner === this.nodeId) return null;
    return this.ownerAlive(o) ? o.owner : null;
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

  private gain(partition: string, revision: number): void {
    const had = this.owns(partition);
    this.held.set(partition, { revision, releasing: false });
    this.observed.set(partition, { owner: this.nodeId, inc: this.incarnation, revision });
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

  // ---- claiming ------------------------------------------------------------------------------------

  acquire(partition: string): Promise<boolean> {
    if (this.owns(partition)) return Promise.resolve(true);
    if (this.stopped || this.leaving || this.held.get(partition)?.releasing) return Promise.resolve(false);
    // Not registered, or our own lease lapsed: nothing can be held until a renewal goes through.
    if (this.selfRevision === null || this.validUntil <= this.clock.now()) return Promise.resolve(false);
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

  private ownerValue(): Uint8Array {
    return enc.encode(
      JSON.stringify({
        owner: this.nodeId,
        inc: this.incarnation,
        at: this.clock.now(),
      } satisfies OwnerValue),
    );
  }

  private async tryAcquire(partition: string): Promise<boolean> {
    const o = this.observed.get(partition);
    if (o && o.owner !== null && o.owner !== this.nodeId && this.ownerAlive(o)) return false;
    const key = idToken(partition);
    try {
      this.gain(partition, await this.owners.create(key, this.ownerValue()));
      return true;
    } catch (e) {
      if (!isWrongRevision(e)) {
        this.log('partition claim failed', { partition, err: String(e) });
        return false;
      }
    }
    const cur = await this.owners.get(key);
    if (!cur) return false;
    const v = parse<OwnerValue>(cur);
    const prev = this.observed.get(partition);
    if (!prev || prev.revision < cur.revision) {
      this.observed.set(partition, ownerObservation(v, cur.revision));
    }
    // Deleted meanwhile (create raced another claim): the watch brings the next round.
    if (v === null) return false;
    // Ours from an earlier life of this node id (or ours already): take it back with CAS. Another
    // node's: only once that node is gone, fencing it first if it merely stopped renewing.
    if (v.owner !== this.nodeId && !(await this.gone(v.owner, v.inc))) return false;
    this.log('partition takeover attempt', { partition, from: v.owner, revision: cur.revision });
    try {
      this.gain(partition, await this.owners.update(key, this.ownerValue(), cur.revision));
      return true;
    } catch (e) {
      if (!isWrongRevision(e)) this.log('partition takeover failed', { partition, err: String(e) });
      return false;
    }
  }

  /**
   * True when node `id`'s incarnation `inc` can no longer serve: its key is gone, another incarnation's,
   * fenced — or stale for 0.5 × its TTL, in which case this node fences it (a CAS on the revision it
   * judged stale, which fails if the node renewed meanwhile).
   */
  private async gone(id: string, inc: string): Promise<boolean> {
    const key = idToken(id);
    const cur = await this.nodes.get(key);
    const v = cur ? parse<NodeValue>(cur) : null;
    if (!cur || !v || v.inc !== inc || v.fencedBy !== undefined) return true;
    const now = this.clock.now();
    const m = this.members.get(id);
    if (!m || m.revision < cur.revision) {
      // A renewal this node had not seen yet: alive as of now.
      this.members.set(id, { value: v, revision: cur.revision, seenAt: now, since: m?.since ?? now });
      return false;
    }
    if (now - m.seenAt <= TAKEOVER_AFTER * v.ttl) return false;
    try {
      await this.nodes.update(key, enc.encode(JSON.stringify({ ...v, fencedBy: this.nodeId })), cur.revision);
      this.log('node fenced', { fenced: id, seenAgo: now - m.seenAt });
      return true;
    } catch (e) {
      if (!isWrongRevision(e)) this.log('node fence failed', { fenced: id, err: String(e) });
      return false;
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

  /** Hands over what is wanted elsewhere; claims what is wanted here and nobody serves. */
  async rebalance(): Promise<void> {
    // A leaving node claims nothing, and `handOver` releases what it holds.
    if (this.stopped || this.leaving) return;
    const wanted = this.wanted();
    const now = this.clock.now();
    const work: Promise<unknown>[] = [];
    for (const [p, h] of this.held) {
      if (h.releasing) continue;
      const want = wanted.get(p);
      const m = want ? this.members.get(want) : undefined;
      if (want && want !== this.nodeId && m && now - m.since >= this.settle) work.push(this.release(p));
    }
    if (this.opts.proactive !== false) {
      for (const [p, o] of this.observed) {
        if (this.held.has(p)) continue;
        const free = o.owner === null || o.owner === this.nodeId || !this.ownerAlive(o);
        if (free && wanted.get(p) === this.nodeId) work.push(this.acquire(p));
      }
    }
    await Promise.all(work);
  }

  /** Stop serving, let the host drain, then delete the partition key (CAS) so the new owner can claim it. */
  release(partition: string): Promise<void> {
    const h = this.held.get(partition);
    if (!h) return Promise.resolve();
    if (h.releasing) return h.released ?? Promise.resolve();
    // New calls stop coming here at once (`owns` is false) and wait for the release (`releasing`) or are
    // retried towards the next owner, while the key stays ours (and our node lease renewed) so the host
    // can finish and snapshot what it accepted.
    h.releasing = true;
    h.released = this.hand(partition, h);
    return h.released;
  }

  /**
   * The partition's release in progress on this node (settles once its key is deleted), or null: a call
   * that arrives meanwhile waits for it instead of bouncing between nodes that both see no owner yet.
   */
  releasing(partition: string): Promise<void> | null {
    const h = this.held.get(partition);
    return h?.releasing ? (h.released ?? null) : null;
  }

  private async hand(partition: string, h: Held): Promise<void> {
    this.cooldown.set(partition, this.clock.now() + 2 * this.ttl);
    try {
      await this.opts.beforeRelease?.(partition);
    } catch (e) {
      this.log('beforeRelease failed', { partition, err: String(e) });
    }
    this.log('partition handed over', { partition });
    this.emit({ partition, owned: false });
    try {
      await this.owners.delete(idToken(partition), { previousSeq: h.revision });
    } catch (e) {
      if (!isWrongRevision(e))
        this.log('partition key delete failed (the next owner fences this node instead)', {
          partition,
          err: String(e),
        });
    }
    if (this.held.get(partition) === h) this.held.delete(partition);
  }

  /**
   * Gives up the partition of a tenant that does not exist (deleted here, or found absent after a claim):
   * stop serving, let the host drain, then purge the key (CAS). Other nodes see the purge and forget the
   * partition instead of claiming it (they would for a handover's delete), so no owner key is left.
   */
  async relinquish(partition: string): Promise<void> {
    const h = this.held.get(partition);
    if (!h || h.releasing) return;
    h.releasing = true;
    try {
      await this.opts.beforeRelease?.(partition);
    } catch (e) {
      this.log('beforeRelease failed', { partition, err: String(e) });
    }
    this.log('partition given up (tenant absent)', { partition });
    this.emit({ partition, owned: false });
    try {
      await this.owners.purge(idToken(partition), { previousSeq: h.revision });
    } catch (e) {
      if (!isWrongRevision(e)) this.log('partition key purge failed', { partition, err: String(e) });
    }
    if (this.held.get(partition) === h) this.held.delete(partition);
    this.observed.delete(partition);
  }

  /**
   * True while this node's lease covers the partition, including during a hand-over (when `owns` is
   * already false): appends of work accepted before the hand-over are still allowed.
   */
  holdsLease(partition: string): boolean {
    return this.held.has(partition) && this.validUntil > this.clock.now();
  }

  /**
   * Graceful stop, first step: hands every partition over while this node keeps serving the ones not yet
   * handed over. The node key says `leaving` first (one renewal, waited for at most a TTL), so the other
   * nodes leave this node out of the placement and claim each partition the moment its key is deleted.
   * Then at most `concurrency` partitions at a time stop taking commands, drain, snapshot (`beforeRelease`)
   * and have their key deleted; a partition's calls wait only for its own turn. After `withinMs` (the
   * shutdown grace left) whatever is left is released all at once.
   */
  async handOver(opts: { withinMs: number; concurrency?: number }): Promise<void> {
    if (this.stopped) return;
    this.leaving = true;
    const until = this.clock.now() + opts.withinMs;
    const announceBy = Math.min(until, this.clock.now() + this.ttl);
    while (!this.leavingAnnounced && this.selfRevision !== null && this.clock.now() < announceBy) {
      await this.renew();
      if (!this.leavingAnnounced) await new Promise((r) => setTimeout(r, 20));
    }
    const lanes = Math.max(1, opts.concurrency ?? 1);
    const next = (): string | undefined => {
      for (const [p, h] of this.held) if (!h.releasing) return p;
      return undefined;
    };
    const lane = async (): Promise<void> => {
      for (let p = next(); p !== undefined && this.clock.now() < until; p = next()) {
        await this.release(p);
      }
    };
    await Promise.all(Array.from({ length: lanes }, lane));
    // Out of time (or gained meanwhile): the rest at once.
    await Promise.all([...this.held.keys()].map((p) => this.release(p)));
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
