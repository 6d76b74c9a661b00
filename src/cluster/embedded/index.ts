/** Embedded adapters: local files for the log and snapshots, this node owns everything. */

export {
  acquireDataDirLock,
  type DataDirLock,
  type DataDirLockOptions,
  type LockLoss,
  type WriteGate,
} from './data-dir-lock.js';
export {
  FileCommandLog,
  type FileCommandLogOptions,
  type FsyncPolicy,
  type LogIo,
  type LogWriteError,
} from './file-command-log.js';
export { FileSnapshotStore } from './file-snapshot-store.js';
export { LocalOwnership } from './local-ownership.js';
