/** Cluster: a node that answered QUARANTINED must have sealed first, or the next owner applies the command. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterPorts, createClusterRouter } from '../../src/cluster/nats/index.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { Command } from '../../src/engine/types.js';
import { PartitionHost } from '../../src/host/partition-host.js';
import { LocalPartitionRouter } from '../../src/host/router.js';
import { createWorkerPool } from '../../src/host/worker-pool.js';
import { retryWhileUnavailable } from '../runtime/harness.js';
import { startNatsServer } from '../support/nats-server.js';

let nats: Awaited<ReturnType<typeof startNatsServer>>;
const cleanups: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  nats = await startNatsServer();
}, 60_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await nats?.cleanup();
});
async function node(nodeId: string) {
  const ports = await createClusterPorts({ natsUrl: nats.url, nodeId, leaseTtlMs: 2000 });
  const pool = createWorkerPool({ kind: 'port', threads: 1, testHooks: true });
  const host = new PartitionHost({ ports, pool });
  await host.start();
  const router = createClusterRouter(ports, new LocalPartitionRouter(host));
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    await router.stop();
    await pool.close();
    await ports.close();
  };
  cleanups.push(kill);
  const send = (t: string, cmd: Command, id: string) => host.submit(t, { id, at: Date.now(), cmd });
  return { ports, pool, host, kill, send };
}

describe('cluster: takeover before the seal landed', () => {
  it('the poison is never answered QUARANTINED, so the next owner applying it breaks no promise', async () => {
    const a = await node('node-a');
    await a.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-billing') }, 'q');
    await a.send('acme', { type: 'upsert_agent', agent: agentConfig('agent-1') }, 'a1');
    await a.send('acme', { type: 'set_presence', agentId: 'agent-1', presence: 'online' }, 'p1');
    a.ports.snapshots.save = () => new Promise(() => {}); // A dies during its seal
    await a.host.injectBug('acme', 'conv-poison', 'exit');
    let answer = 'still waiting';
    void a
      .send(
        'acme',
        { type: 'enqueue', conversation: conversation('conv-poison', { queueId: 'chat-billing' }) },
        'conv-poison',
      )
      .then(
        () => {
          answer = 'ok';
        },
        (e: { code: string }) => {
          answer = e.code;
        },
      );
    await new Promise((r) => setTimeout(r, 300));
    await a.kill();
    await new Promise((r) => setTimeout(r, 50));
    // Never "changed nothing": it waited for the seal, and the node going away answers "retry".
    expect(['still waiting', 'SB_ERR_UNAVAILABLE', 'SB_ERR_NOT_OWNER']).toContain(answer);
    const b = await node('node-b');
    const r = await retryWhileUnavailable(
      () => b.host.query('acme', { type: 'conversation', conversationId: 'conv-poison' }),
      400,
    );
    // The command was logged and nobody was told it changed nothing: B replays it.
    expect(r.type === 'conversation' && r.conversation !== null).toBe(true);
  }, 60_000);
});
