/**
 * A `CommandLog` decorator that refuses appends for partitions this node does not hold a lease on, and
 * lets ownership wait for a partition's in-flight appends before handing its lease over.
 *
 * Why both this and JetStream's `expect.lastSubjectSequence`: the sequence check stops a stale owner
 * once a newer owner has written, but between a handover and the new owner's first append an old
 * owner's timer tick would still land. Checking the lease first closes that window on this side, and
 * the host treats the `SB_ERR_NOT_OWNER` like a fenced append (drops the partition's unreleased work and
 * reloads, which asks ownership again).
 */
import type { CommandEnvelope } from '../../engine/types.js';
import { SwitchboardError } from '../../errors/catalogue.js';
import type { CommandLog, LogBatch, Ownership } from '../ports.js';

export class LeaseFencedCommandLog implements CommandLog {
  private readonly inflight = new Map<string, Set<Promise<unknown>>>();

  constructor(
    private readonly inner: CommandLog,
    private readonly ownership: Pick<Ownership, 'owns'> & { holdsLease?(partition: string): boolean },
  ) {}

  append(partition: string, commands: CommandEnvelope[], expectedLastSeq: number): Promise<number> {
    const holds = this.ownership.holdsLease
      ? this.ownership.holdsLease(partition)
      : this.ownership.owns(partition);
    if (!holds) {
      return Promise.reject(
        new SwitchboardError('SB_ERR_NOT_OWNER', `this node holds no lease on partition ${partition}`),
      );
    }
    const p = this.inner.append(partition, commands, expectedLastSeq);
    let set = this.inflight.get(partition);
    if (!set) {
      set = new Set();
      this.inflight.set(partition, set);
    }
    const s = set;
    s.add(p);
    const done = () => {
      s.delete(p);
      if (s.size === 0 && this.inflight.get(partition) === s) this.inflight.delete(partition);
    };
    p.then(done, done);
    return p;
  }

  /** Resolves once every append of the partition started so far has settled (acked or failed). */
  async drain(partition: string): Promise<void> {
    for (let set = this.inflight.get(partition); set && set.size > 0; set = this.inflight.get(partition)) {
      await Promise.allSettled([...set]);
    }
  }

  get pipelined(): boolean {
    return this.inner.pipelined === true;
  }

  async fence(partition: string): Promise<void> {
    await this.inner.fence?.(partition);
  }

  read(partition: string, afterSeq: number): AsyncIterable<LogBatch> {
    return this.inner.read(partition, afterSeq);
  }

  lastSeq(partition: string): Promise<number> {
    return this.inner.lastSeq(partition);
  }

  trim(partition: string, uptoSeq: number): Promise<void> {
    return this.inner.trim(partition, uptoSeq);
  }

  /** Only under this node's lease, like an append. */
  async tombstone(partition: string): Promise<void> {
    if (!this.inner.tombstone) throw new SwitchboardError('SB_ERR_NOT_IMPLEMENTED', 'no tombstones');
    const holds = this.ownership.holdsLease
      ? this.ownership.holdsLease(partition)
      : this.ownership.owns(partition);
    if (!holds)
      throw new SwitchboardError('SB_ERR_NOT_OWNER', `this node holds no lease on partition ${partition}`);
    await this.inner.tombstone(partition);
  }

  async tombstoned(partition: string): Promise<boolean> {
    return (await this.inner.tombstoned?.(partition)) ?? false;
  }

  async remove(partition: string): Promise<void> {
    await this.inner.remove?.(partition);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
