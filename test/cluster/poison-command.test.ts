/**
 * Cluster mode: a command that ends its worker thread is quarantined the same way as in embedded mode,
 * and the seal goes through the cluster's snapshot store (JetStream, behind the event-flushing store),
 * so the node that takes the tenant over next — knowing nothing of the poison, whose append is in the
 * JetStream command log — replays to the state whose answers were given, without it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClusterPorts, createClusterPorts, createClusterRouter } from '../../src/cluster/nats/index.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { ApplyResult, Command } from '../../src/engine/types.js';
import { PartitionHost } from '../../src/host/partition-host.js';
import { LocalPartitionRouter } from '../../src/host/router.js';
import { createWorkerPool, type WorkerPool } from '../../src/host/worker-pool.js';
import { retryWhileUnavailable } from '../runtime/harness.js';
import { collect } from '../support/contracts.js';
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

interface Node {
  ports: ClusterPorts;
  pool: WorkerPool;
  host: PartitionHost;
  send(tenant: string, cmd: Command, id: string): Promise<ApplyResult>;
  digest(tenant: string): Promise<string>;
  /** Like kill -9 for the host (no drain, no final snapshot); the node's lease goes with its ports. */
  kill(): Promise<void>;
}

async function node(nodeId: string): Promise<Node> {
  const ports = await createClusterPorts({ natsUrl: nats.url, nodeId, leaseTtlMs: 2000 });
  const pool = createWorkerPool({ kind: 'port', threads: 1, testHooks: true });
  const host = new PartitionHost({ ports, pool });
  await host.start();
  // Publishes the host's events to SB_EVENTS, as a node does (the seal waits for them to be stored).
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
  return {
    ports,
    pool,
    host,
    send: (tenant, cmd, id) => host.submit(tenant, { id, at: Date.now(), cmd }),
    async digest(tenant) {
      const r = await host.query(tenant, { type: 'digest' });
      if (r.type !== 'digest') throw new Error('expected a digest');
      return r.digest;
    },
    kill,
  };
}

const enqueue = (n: Node, id: string) =>
  n.send('acme', { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) }, id);

describe('cluster mode: a command that ends its worker thread', () => {
  it('is quarantined and sealed in the cluster snapshot store: the next owner replays to the acknowledged state', async () => {
    const a = await node('node-a');
    await a.send('acme', { type: 'upsert_queue', queue: queueConfig('chat-billing') }, 'q');
    await a.send('acme', { type: 'upsert_agent', agent: agentConfig('agent-1') }, 'a1');
    await a.send('acme', { type: 'set_presence', agentId: 'agent-1', presence: 'online' }, 'p1');
    const acked = await enqueue(a, 'conv-acked');
    expect(acked.ok && acked.reply.kind === 'enqueued' && acked.reply.status).toBe('assigned');
    const before = await a.digest('acme');
    await a.host.injectBug('acme', 'conv-poison', 'exit');

    await expect(enqueue(a, 'conv-poison')).rejects.toMatchObject({ code: 'SB_ERR_COMMAND_QUARANTINED' });
    await expect(enqueue(a, 'conv-poison')).rejects.toMatchObject({ code: 'SB_ERR_COMMAND_QUARANTINED' });
    expect(await retryWhileUnavailable(() => a.digest('acme'))).toBe(before);
    // In the JetStream command log (the reload waited for its append, which ran beside the apply).
    const logged = (await collect(a.ports.log.read('acme', 0))).flatMap((b) => b.commands.map((c) => c.id));
    expect(logged).toContain('conv-poison');
    expect(a.pool.restarts).toBe(1);
    await a.kill();

    // The next owner has no quarantine and no bug: only the seal keeps the poison out of its replay.
    // (Its digest moves on at once: a node that gains a tenant logs a warm-up tick, which advances the
    // engine's time. So the state is checked by what it holds.)
    const b = await node('node-b');
    const has = async (id: string) => {
      const r = await retryWhileUnavailable(
        () => b.host.query('acme', { type: 'conversation', conversationId: id }),
        400,
      );
      return r.type === 'conversation' ? (r.conversation?.status ?? null) : null;
    };
    expect(await has('conv-acked')).toBe('assigned');
    expect(await has('conv-poison')).toBeNull();
    const stats = await b.host.query('acme', { type: 'queue_stats', queueId: 'chat-billing' });
    expect(stats.type === 'queue_stats' && stats.stats?.waiting).toBe(0);
    expect(b.pool.restarts).toBe(0);
  });
});

// A node that answered QUARANTINED must have sealed first, or the next owner applies the command.
// Its own tenant: the test above leaves acme's lease to a node of its own.
describe('cluster: takeover before the seal landed', () => {
  // The nodes of the test above go first: each node here must be the only one that could own initech.
  beforeAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  });
  it('the poison is never answered QUARANTINED, so the next owner applying it breaks no promise', async () => {
    const a = await node('seal-a');
    await a.send('initech', { type: 'upsert_queue', queue: queueConfig('chat-billing') }, 'q');
    await a.send('initech', { type: 'upsert_agent', agent: agentConfig('agent-1') }, 'a1');
    await a.send('initech', { type: 'set_presence', agentId: 'agent-1', presence: 'online' }, 'p1');
    a.ports.snapshots.save = () => new Promise(() => {}); // A dies during its seal
    await a.host.injectBug('initech', 'conv-poison', 'exit');
    let answer = 'still waiting';
    void a
      .send(
        'initech',
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
    const b = await node('seal-b');
    const r = await retryWhileUnavailable(
      () => b.host.query('initech', { type: 'conversation', conversationId: 'conv-poison' }),
      400,
    );
    // The command was logged and nobody was told it changed nothing: B replays it.
    expect(r.type === 'conversation' && r.conversation !== null).toBe(true);
  }, 60_000);
});
