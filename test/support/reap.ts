/**
 * Servers this process started (nats-server, FerretDB, Switchboard nodes, the Go load client) are killed
 * when it exits, whichever way: a load script stopped by a test's timeout (SIGTERM), Ctrl-C, or a crash.
 * Otherwise they outlive it, holding ports, temp dirs and CPU that the next run measures.
 */
import type { ChildProcess } from 'node:child_process';
import { isMainThread } from 'node:worker_threads';

const live = new Set<ChildProcess>();
let hooked = false;

const SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

export function reapOnExit(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
    // A signal ends the process without 'exit' unless someone handles it; only where nobody else does
    // (signals reach the main thread only).
    if (isMainThread) {
      for (const [sig, n] of Object.entries(SIGNALS)) {
        if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + n));
      }
    }
  }
  return child;
}
