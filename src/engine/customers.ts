/**
 * The customers of a partition, in two parts:
 *
 * - **configured** (`upsert_customer`): full records (value tier, dedicated agent), forgotten only by
 *   `remove_customer`.
 * - **seen**: created at a customer's first contact (an `enqueue` naming an unknown customer) and
 *   remembered by last contact. At most `limit` of them are kept; beyond that the least recently
 *   contacted is forgotten (its previous agents with it; it is then a new customer again). Stored
 *   compactly because a million waiting first-time customers is a normal peak: the value is the list of
 *   previous agents as `''` (none yet), one agent id, or an array of ids (most recent first). The key
 *   and the agent ids are strings the engine already holds, so a seen customer costs one map entry.
 *
 * The seen table's insertion order IS the recency order: a contact moves the customer to the end
 * (delete + set), and eviction deletes the oldest key. A conversation remembers where its customer's
 * entry was at contact (`contactEntry`), so recording its agent at assignment reads that entry instead
 * of looking the customer up again (checked: the entry must still hold the same key).
 */
import { NONE } from './model.js';
import { StringTable } from './string-table.js';
import type { CustomerConfig } from './types.js';

export type SeenAgents = string | string[];

/** Default bound on customers created by contact (configured customers are not counted). */
export const DEFAULT_CUSTOMER_LIMIT = 2_000_000;
/** Previous agents remembered per customer. */
export const PREVIOUS_AGENTS_KEPT = 5;

export class CustomerBook {
  readonly configured = new Map<string, CustomerConfig>();
  readonly seen: StringTable<SeenAgents>;
  /** Entry of the customer of the last `contact` in `seen` (-1 = a configured customer). */
  contactEntry = -1;
  /** Reused read view of a seen customer for the routing rules (they only read it, never keep it). */
  private readonly scratch: CustomerConfig = { id: '', valueTier: 'standard', previousAgents: NONE };
  private readonly one: string[] = [''];

  constructor(
    public limit: number,
    hashSeed = 0,
  ) {
    this.seen = new StringTable<SeenAgents>(1024, hashSeed);
  }

  get size(): number {
    return this.configured.size + this.seen.size;
  }

  /**
   * The customer as the rules see it, or undefined when unknown. For a seen customer this is a shared
   * scratch object, valid until the next call: read it, do not keep it.
   */
  lookup(id: string): CustomerConfig | undefined {
    const cfg = this.configured.get(id);
    if (cfg !== undefined) return cfg;
    const v = this.seen.get(id);
    return v === undefined ? undefined : this.view(id, v);
  }

  private view(id: string, v: SeenAgents): CustomerConfig {
    const s = this.scratch;
    s.id = id;
    if (typeof v !== 'string') s.previousAgents = v;
    else if (v === '') s.previousAgents = NONE;
    else {
      this.one[0] = v;
      s.previousAgents = this.one;
    }
    return s;
  }

  /** A fresh, caller-owned record (queries, snapshots). */
  record(id: string): CustomerConfig | null {
    const cfg = this.configured.get(id);
    if (cfg !== undefined) return structuredClone(cfg);
    const v = this.seen.get(id);
    return v === undefined ? null : seenRecord(id, v);
  }

  /**
   * A customer contacts the partition: created if unknown, else marked most recently contacted. Returns
   * the customer as `lookup` would (one map probe for a new customer instead of three).
   */
  contact(id: string): CustomerConfig {
    if (this.configured.size > 0) {
      const cfg = this.configured.get(id);
      if (cfg !== undefined) {
        this.contactEntry = -1;
        return cfg;
      }
    }
    const v = this.seen.get(id);
    if (v !== undefined) {
      this.seen.delete(id);
      this.seen.set(id, v);
      this.contactEntry = this.seen.lastEntry;
      return this.view(id, v);
    }
    this.seen.set(id, '');
    this.contactEntry = this.seen.lastEntry;
    this.evict();
    return this.view(id, '');
  }

  /**
   * Records `agentId` as the customer's most recent agent (creating the customer if it was forgotten).
   * `entry`: where the customer was at its contact (a hint; -1 = look it up).
   */
  remember(id: string, agentId: string, entry = -1): void {
    if (this.configured.size > 0) {
      const cfg = this.configured.get(id);
      if (cfg !== undefined) {
        cfg.previousAgents = withFirst(cfg.previousAgents, agentId);
        return;
      }
    }
    const seen = this.seen;
    const e = seen.keyAt(entry) === id ? entry : seen.entryOf(id);
    if (e < 0) {
      seen.set(id, agentId);
      this.evict();
      return;
    }
    const v = seen.valueAt(e);
    if (v === '') seen.setValueAt(e, agentId);
    else if (typeof v === 'string') {
      if (v !== agentId) seen.setValueAt(e, [agentId, v]);
    } else if (v[0] !== agentId) seen.setValueAt(e, withFirst(v, agentId));
  }

  /** Configuration replaces whatever was known about the customer; configured customers are kept. */
  upsert(cfg: CustomerConfig): void {
    this.seen.delete(cfg.id);
    this.configured.set(cfg.id, cfg);
  }

  /**
   * Forgets the customer, configured or seen (an erasure request). A conversation of theirs still open
   * records its agent again when assigned (`remember` then finds no entry and creates one).
   */
  forget(id: string): void {
    this.configured.delete(id);
    this.seen.delete(id);
  }

  /** Restores a seen customer (snapshot order = recency order, oldest first). */
  restoreSeen(id: string, v: SeenAgents): void {
    this.seen.set(id, v);
  }

  setLimit(limit: number): void {
    this.limit = limit;
    this.evict();
  }

  private evict(): void {
    const seen = this.seen;
    while (seen.size > this.limit) seen.delete(seen.oldest()!);
  }
}

export function seenRecord(id: string, v: SeenAgents): CustomerConfig {
  const previousAgents = typeof v !== 'string' ? v.slice() : v === '' ? [] : [v];
  return { id, valueTier: 'standard', previousAgents };
}

function withFirst(prev: readonly string[], agentId: string): string[] {
  if (prev[0] === agentId) return prev as string[];
  const out = [agentId];
  for (const p of prev) if (p !== agentId && out.length < PREVIOUS_AGENTS_KEPT) out.push(p);
  return out;
}
