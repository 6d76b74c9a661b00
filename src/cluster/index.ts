/**
 * Port factories: the node's composition root picks embedded (local files) or cluster (NATS/Mongo)
 * adapters here and never names an adapter class itself.
 */
import { join } from 'node:path';
import { acquireDataDirLock, type DataDirLockOptions, type LockLoss } from './embedded/data-dir-lock.js';
import {
  FileCommandLog,
  type FsyncPolicy,
  type LogIo,
  type LogWriteError,
} from './embedded/file-command-log.js';
import { FileSnapshotStore } from './embedded/file-snapshot-store.js';
import { LocalOwnership } from './embedded/local-ownership.js';
import {
  type Clock,
  type CommandLog,
  type EventStore,
  type Ownership,
  type SnapshotStore,
  systemClock,
} from './ports.js';

/** The ports a node runs on, whichever adapters back them. */
export interface NodePorts {
  mode: 'embedded' | 'cluster';
  log: CommandLog;
  snapshots: SnapshotStore;
  /** Cluster: the tenants' stored events (`SB_EVENTS`), purged by DeleteTenant. Embedded: none. */
  eventStore?: EventStore;
  ownership: Ownership;
  clock: Clock;
  /** Partitions with durable state this node should recover at start (embedded: every log file). */
  knownPartitions(): Promise<string[]>;
  /**
   * Embedded: calls `listener` once if the data directory's lock is found taken over by another node
   * (or removed). From then on every write to the directory is refused; the node must fence itself.
   */
  onDataDirLockLost?(listener: (loss: LockLoss) => void): void;
  /** Closes the adapters (after the host has drained and snapshotted). */
  close(): Promise<void>;
}

export interface EmbeddedPortsOptions {
  dataDir: string;
  nodeId: string;
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** Where log writes run (see `FileCommandLogOptions.writes`). */
  logWrites?: 'thread-pool' | 'main-thread' | 'auto';
  /** Zeros kept ahead of each log file's data, at most (bytes; 0 = none). See `FileCommandLogOptions`. */
  logPreallocateBytes?: number;
  clock?: Clock;
  /** Told when a torn log tail is cut off at start-up (the node logs it). */
  onTornTail?: (info: { partition: string; reason: string; keptBytes: number; droppedBytes: number }) => void;
  /** Told when a write or flush of a log file fails (the node logs and counts it). */
  onLogWriteError?: (info: LogWriteError) => void;
  /** Test hook: the log's file writes (`FileCommandLogOptions.io`), e.g. a full disk. */
  logIo?: Partial<LogIo>;
  /** Test hook: the lock's staleness limit and renewal period (defaults 10 s and 2 s). */
  lock?: Pick<DataDirLockOptions, 'staleMs' | 'renewMs'>;
}

/** Local files under `dataDir` (`log/`, `snapshots/`, `LOCK`); this node owns every partition. */
export async function createEmbeddedPorts(opts: EmbeddedPortsOptions): Promise<NodePorts> {
  const lock = await acquireDataDirLock(opts.dataDir, opts.lock ?? {});
  const log = new FileCommandLog({
    dir: join(opts.dataDir, 'log'),
    fsync: opts.fsync ?? 'always',
    ...(opts.fsyncIntervalMs !== undefined ? { fsyncIntervalMs: opts.fsyncIntervalMs } : {}),
    ...(opts.logWrites ? { writes: opts.logWrites } : {}),
    ...(opts.logPreallocateBytes !== undefined ? { preallocateBytes: opts.logPreallocateBytes } : {}),
    ...(opts.onTornTail ? { onTornTail: opts.onTornTail } : {}),
    ...(opts.onLogWriteError ? { onWriteError: opts.onLogWriteError } : {}),
    ...(opts.logIo ? { io: opts.logIo } : {}),
    gate: lock,
  });
  const snapshots = new FileSnapshotStore(join(opts.dataDir, 'snapshots'), { gate: lock });
  const ownership = new LocalOwnership(opts.nodeId);
  return {
    mode: 'embedded',
    log,
    snapshots,
    ownership,
    clock: opts.clock ?? systemClock,
    onDataDirLockLost: (listener) => lock.onLost(listener),
    // Every log file, and every snapshot file without one (its log lost: the load goes on after the
    // snapshot, `CommandLog.rebase`), unless its deletion began.
    async knownPartitions() {
      const [logged, snapped, dead] = await Promise.all([
        log.partitions(),
        snapshots.partitions(),
        log.tombstones(),
      ]);
      const skip = new Set(dead);
      return [...new Set([...logged, ...snapped])].filter((p) => !skip.has(p));
    },
    async close() {
      await log.close();
      await snapshots.close();
      await ownership.stop();
      await lock();
    },
  };
}

export type { DataDirLockOptions, LockLoss } from './embedded/data-dir-lock.js';
export type { LogIo, LogWriteError } from './embedded/file-command-log.js';

// Cluster mode (NATS_URL set): JetStream log, KV leases, Mongo/JetStream snapshots, forwarding router.
export { createClusterPorts, createClusterRouter, isClusterPorts } from './nats/index.js';
