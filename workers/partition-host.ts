/**
 * Partition-host worker: one `PartitionActors` (src/host/partition-actor.ts) per thread, run as a Piscina
 * task function or as a plain `worker_threads` worker fed through `parentPort` (see
 * `src/host/worker-pool.ts`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PartitionActors } from '../src/host/partition-actor.js';
import type { HostRequest, HostResponse, HostWorkerData } from '../src/host/protocol.js';

const data = (workerData ?? { transport: 'piscina', testHooks: false }) as HostWorkerData;
const actors = new PartitionActors(data.testHooks, true, data.progress);

/** Handles one request: the items of one worker's micro-batch, in order. */
export function handle(req: HostRequest): HostResponse {
  return actors.handle(req);
}

/** Piscina task entry point. */
export default function piscinaTask(req: HostRequest): HostResponse {
  return handle(req);
}

if (data.transport === 'port' && parentPort) {
  const port = parentPort;
  port.on('message', (msg: { id: number; req: HostRequest }) => {
    port.postMessage({ id: msg.id, res: handle(msg.req) });
  });
}
