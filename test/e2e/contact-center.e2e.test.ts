/**
 * End to end: a real node process (`dist/src/cli/main.js`) driven by a real grpc-js client and by the
 * HTTP mirror, through a contact centre's day — assignment, queueing, freed capacity, a rejected offer,
 * a cancellation — then `kill -9` and restart on the same data directory: the same state comes back.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbeddedPorts } from '../../src/cluster/index.js';
import { createEngine, restoreEngine } from '../../src/engine/index.js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceClient } from '../../src/gen/switchboard/v1/agent_desk.js';
import {
  type Agent,
  Channel,
  Outcome,
  Presence,
  type Queue,
  Seniority,
  Strategy,
} from '../../src/gen/switchboard/v1/common.js';
import { type Event, EventServiceClient } from '../../src/gen/switchboard/v1/events.js';
import {
  type Conversation,
  ConversationStatus,
  EnqueueStatus,
  GatewayServiceClient,
} from '../../src/gen/switchboard/v1/gateway.js';
import { StatisticsServiceClient } from '../../src/gen/switchboard/v1/statistics.js';
import { type NodeProcess, startNodeProcess } from '../support/node-process.js';

const TENANT = 'acme';
const TOKEN = 'tok-acme-0123456789';

let node: NodeProcess;
let clients: ReturnType<typeof connect>;

function connect(port: number) {
  const addr = `127.0.0.1:${port}`;
  const creds = grpc.credentials.createInsecure();
  return {
    admin: new AdminServiceClient(addr, creds),
    desk: new AgentDeskServiceClient(addr, creds),
    gateway: new GatewayServiceClient(addr, creds),
    stats: new StatisticsServiceClient(addr, creds),
    events: new EventServiceClient(addr, creds),
    close() {
      for (const c of [this.admin, this.desk, this.gateway, this.stats, this.events]) c.close();
    },
  };
}

function metadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${TOKEN}`);
  return md;
}

/** Promise form of a generated unary method. */
function unary<Req, Res>(
  client: grpc.Client,
  method: (
    req: Req,
    md: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    cb: (e: grpc.ServiceError | null, r: Res) => void,
  ) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, req, metadata(), { deadline: Date.now() + 10_000 }, (e, r) =>
      e ? reject(e) : resolve(r),
    );
  });
}

async function httpGet(path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${node.httpPort}${path}`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.json();
}

function agent(id: string, displayName: string, queues: string[] = []): Agent {
  return {
    id,
    displayName,
    skills: [{ skill: 'billing', level: 5 }],
    teams: [],
    tier: 1,
    seniority: Seniority.SENIORITY_EXPERIENCED,
    capacity: { chat: 1 },
    wrapUpSeconds: 0,
    queues,
  };
}

function queue(id: string, offerTimeoutSeconds = 0): Queue {
  return {
    id,
    name: id,
    channel: Channel.CHANNEL_CHAT,
    requiredSkills: [{ skill: 'billing', minLevel: 1 }],
    strategy: Strategy.STRATEGY_LONGEST_IDLE,
    onlineOnly: false,
    broadcastWidth: 0,
    priority: 5,
    serviceLevel: { target: 0.9, thresholdSeconds: 10, windowSeconds: 3600 },
    businessHours: undefined,
    maxSize: 0,
    offerTimeoutSeconds,
    overflow: [],
    previousAgentWaitSeconds: 0,
    newCustomersToNewAgents: false,
  };
}

const enqueue = (id: string, queueId: string) =>
  unary(clients.gateway, clients.gateway.enqueue, {
    tenant: TENANT,
    requestId: '',
    conversation: {
      id,
      channel: Channel.CHANNEL_CHAT,
      customer: { id: `customer-${id}`, valueTier: 0 },
      requiredSkills: [],
      queueId,
      topic: undefined,
      priority: 0,
    },
  });

async function conversation(id: string): Promise<Conversation> {
  const r = await unary(clients.gateway, clients.gateway.getConversation, {
    tenant: TENANT,
    requestId: '',
    conversationId: id,
  });
  return r.conversation as Conversation;
}

const CONVERSATIONS = ['conv-1', 'conv-2', 'conv-3', 'conv-4', 'conv-offer'];

/** What a supervisor can see: every conversation's state and every queue's counts (no clock-derived fields). */
async function observableState(): Promise<unknown> {
  const convs = [];
  for (const id of CONVERSATIONS) {
    const c = await conversation(id);
    convs.push({ id, status: c.status, agentId: c.agentId, position: c.position, offeredTo: c.offeredTo });
  }
  const s = await unary(clients.stats, clients.stats.listQueueStats, {
    tenant: TENANT,
    requestId: '',
    pageSize: 0,
    pageToken: '',
  });
  const queues = s.stats.map((q) => ({
    id: q.queueId,
    waiting: q.waiting,
    assigned: q.assigned,
    abandoned: q.abandoned,
  }));
  return { convs, queues };
}

/** The engine digest of the tenant as durable on disk: snapshot + log replayed in this process. */
async function digestOnDisk(dataDir: string): Promise<string> {
  const ports = await createEmbeddedPorts({ dataDir, nodeId: 'inspector' });
  try {
    const stored = await ports.snapshots.load(TENANT);
    const engine = stored ? restoreEngine(stored.snapshot) : createEngine(TENANT);
    for await (const b of ports.log.read(TENANT, stored?.seq ?? 0))
      for (const c of b.commands) engine.apply(c);
    return engine.digest();
  } finally {
    await ports.close();
  }
}

/** Digest in the node's "partition recovered" log line for the tenant. */
function recoveredDigest(n: NodeProcess): string | undefined {
  for (const l of n.lines()) {
    if (!l.includes('partition recovered')) continue;
    const m = JSON.parse(l) as { tenant?: string; digest?: string };
    if (m.tenant === TENANT) return m.digest;
  }
  return undefined;
}

// The whole day once per place the partition actors can run: worker threads (the default) and the main
// thread (`--pool inline`), so the inline pool is held to the same end-to-end behaviour, restart included.
describe.each([
  { pool: 'port', args: ['--workers', '2'] },
  { pool: 'inline', args: ['--workers', '2', '--pool', 'inline'] },
])('a contact centre served by a real node ($pool pool)', ({ args }) => {
  const events: Event[] = [];

  beforeAll(async () => {
    node = await startNodeProcess({ args: ['--tokens', `${TENANT}=${TOKEN}`, ...args] });
    clients = connect(node.grpcPort);
  });

  afterAll(async () => {
    clients?.close();
    await node?.dispose();
  });

  it('defines queues and agents, who come online', async () => {
    const stream = clients.events.watchEvents({ tenant: TENANT, requestId: '', types: [] }, metadata());
    stream.on('data', (e: Event) => events.push(e));
    stream.on('error', () => {});
    await unary(clients.admin, clients.admin.upsertQueue, {
      tenant: TENANT,
      requestId: '',
      queue: queue('chat-billing'),
    });
    await unary(clients.admin, clients.admin.upsertQueue, {
      tenant: TENANT,
      requestId: '',
      queue: queue('chat-offers', 30),
    });
    for (const a of [
      agent('alice', 'Alice Martin', ['chat-billing']),
      agent('bruno', 'Bruno Costa', ['chat-billing']),
      agent('carol', 'Carol Diaz', ['chat-offers']),
      agent('dave', 'Dave Evans', ['chat-offers']),
    ]) {
      await unary(clients.admin, clients.admin.upsertAgent, { tenant: TENANT, requestId: '', agent: a });
      await unary(clients.desk, clients.desk.setPresence, {
        tenant: TENANT,
        requestId: '',
        agentId: a.id,
        presence: Presence.PRESENCE_ONLINE,
      });
    }
    const agents = await unary(clients.admin, clients.admin.listAgents, {
      tenant: TENANT,
      requestId: '',
      pageSize: 0,
      pageToken: '',
    });
    expect(agents.agents.map((a) => a.id).sort()).toEqual(['alice', 'bruno', 'carol', 'dave']);
  });

  it('a conversation is assigned at once to a free agent, by name, and the event streams out', async () => {
    const r = await enqueue('conv-1', 'chat-billing');
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_ASSIGNED);
    expect(['Alice Martin', 'Bruno Costa']).toContain(r.agentName);
    for (let i = 0; i < 50 && !events.some((e) => e.assigned?.conversationId === 'conv-1'); i++) {
      await new Promise((res) => setTimeout(res, 20));
    }
    const assigned = events.find((e) => e.assigned?.conversationId === 'conv-1');
    expect(assigned?.assigned?.agentName).toBe(r.agentName);
  });

  it('when every agent is busy the customer is queued with a position and an estimated wait', async () => {
    expect((await enqueue('conv-2', 'chat-billing')).status).toBe(EnqueueStatus.ENQUEUE_STATUS_ASSIGNED);
    const third = await enqueue('conv-3', 'chat-billing');
    expect(third.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    expect(third.position).toBe(1);
    expect(third.estimatedWaitMs).toBeGreaterThan(0);
    const fourth = await enqueue('conv-4', 'chat-billing');
    expect(fourth.position).toBe(2);
  });

  it('an agent who frees capacity gets the oldest waiting conversation', async () => {
    const first = await conversation('conv-1');
    await unary(clients.desk, clients.desk.endConversation, {
      tenant: TENANT,
      requestId: '',
      conversationId: 'conv-1',
      outcome: Outcome.OUTCOME_RESOLVED,
    });
    const c3 = await conversation('conv-3');
    expect(c3.status).toBe(ConversationStatus.CONVERSATION_STATUS_ASSIGNED);
    expect(c3.agentId).toBe(first.agentId);
    expect((await conversation('conv-4')).position).toBe(1);
  });

  it('a rejected offer goes to the next agent', async () => {
    const r = await enqueue('conv-offer', 'chat-offers');
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_OFFERED);
    const offered = await conversation('conv-offer');
    expect(offered.offeredTo.length).toBe(1);
    const first = offered.offeredTo[0] as string;
    await unary(clients.desk, clients.desk.rejectOffer, {
      tenant: TENANT,
      requestId: '',
      agentId: first,
      conversationId: 'conv-offer',
    });
    const c = await conversation('conv-offer');
    expect(c.status).toBe(ConversationStatus.CONVERSATION_STATUS_OFFERED);
    expect(c.offeredTo).toEqual([first === 'carol' ? 'dave' : 'carol']);
  });

  it('a customer who hangs up while waiting is abandoned', async () => {
    await unary(clients.gateway, clients.gateway.cancel, {
      tenant: TENANT,
      requestId: '',
      conversationId: 'conv-4',
    });
    expect((await conversation('conv-4')).status).toBe(ConversationStatus.CONVERSATION_STATUS_ABANDONED);
  });

  it('the HTTP mirror gives the same answers as gRPC', async () => {
    const viaHttp = (await httpGet(`/v1/tenants/${TENANT}/conversations/conv-3`)) as {
      conversation: { status: string; agentId: string };
    };
    const viaGrpc = await conversation('conv-3');
    expect(viaHttp.conversation.status).toBe(ConversationStatus[viaGrpc.status]);
    expect(viaHttp.conversation.agentId).toBe(viaGrpc.agentId);
    const stats = (await httpGet(`/v1/tenants/${TENANT}/queue-stats`)) as {
      stats: { queueId: string; waiting?: number }[];
    };
    const grpcStats = await unary(clients.stats, clients.stats.listQueueStats, {
      tenant: TENANT,
      requestId: '',
      pageSize: 0,
      pageToken: '',
    });
    expect(stats.stats.map((s) => [s.queueId, s.waiting ?? 0])).toEqual(
      grpcStats.stats.map((s) => [s.queueId, s.waiting]),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${node.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_assignment_latency_seconds_count \d+/);
    // The events of the day so far are kept for resumed watches (embedded default --event-history).
    expect(Number(/^switchboard_event_history_events (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/^switchboard_event_history_evicted_total 0$/m);
  });

  it('after kill -9 and a restart the node is back in exactly the same state', async () => {
    const before = await observableState();
    await node.kill();
    const durable = await digestOnDisk(node.dataDir);
    clients.close();
    node = await node.restart();
    clients = connect(node.grpcPort);
    // The digest the node recovered (logged before it serves) is the digest of what was acknowledged.
    expect(recoveredDigest(node)).toBe(durable);
    expect(await observableState()).toEqual(before);
    // A graceful stop snapshots; the next start restores snapshot + log tail to the same digest.
    expect(await node.stop()).toBe(0);
    const snapshotted = await digestOnDisk(node.dataDir);
    node = await node.restart();
    clients.close();
    clients = connect(node.grpcPort);
    expect(recoveredDigest(node)).toBe(snapshotted);
    expect(await observableState()).toEqual(before);
  });
});
