/**
 * Snapshot store decorator for cluster mode: a partition's snapshot is saved only once every event the
 * node handed to `SB_EVENTS` for that partition is stored. The snapshot's batches are all released (their
 * events handed over) before the host saves it, so after this wait no event at or below the snapshot's
 * seq can be missing from the stream, and the next owner only has to re-publish the events of the log
 * tail it replays past the snapshot (see `events.ts`).
 */
import { SwitchboardError } from '../../errors/catalogue.js';
import type { SnapshotStore, StoredSnapshot } from '../ports.js';
import type { JetStreamEventPublisher } from './events.js';

export class EventFlushingSnapshotStore implements SnapshotStore {
  constructor(
    private readonly inner: SnapshotStore,
    private readonly events: Pick<JetStreamEventPublisher, 'flush'>,
    /** Longest wait for the events (NATS down): then the save fails and the snapshot is retried later. */
    private readonly flushTimeoutMs = 10_000,
  ) {}

  async save(s: StoredSnapshot): Promise<void> {
    // The host asks for the save as soon as the snapshot's batch is durable, in a microtask that runs
    // before the one in which `EventBatchGatherer` hands that batch's events to the publisher (both are
    // queued by the same append ack). A macrotask turn lets every such microtask run, so the flush below
    // waits for the snapshot's own batch too, not only for the ones before it.
    await new Promise<void>((r) => setImmediate(r));
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      this.events.flush(s.partition).then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), this.flushTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!flushed) {
      throw new SwitchboardError(
        'SB_ERR_UNAVAILABLE',
        `snapshot of ${s.partition} not saved: its events are not all stored in SB_EVENTS yet`,
      );
    }
    await this.inner.save(s);
  }

  load(partition: string): Promise<StoredSnapshot | null> {
    return this.inner.load(partition);
  }

  storedSeq(partition: string): Promise<number> {
    return this.inner.storedSeq(partition);
  }

  async remove(partition: string): Promise<void> {
    await this.inner.remove?.(partition);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
