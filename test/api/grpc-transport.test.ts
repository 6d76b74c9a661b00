import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel, Presence } from '../../src/gen/switchboard/v1/common.js';
import type { Event } from '../../src/gen/switchboard/v1/events.js';
import { EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { waitFor } from '../support/wait-for.js';
import { chat, chatAgent, chatQueue } from './support/fixtures.js';
import {
  ADMIN_TOKEN,
  billingDesk,
  call,
  callError,
  type Harness,
  http,
  startHarness,
  TOKENS,
} from './support/harness.js';

let h: Harness;
const T = 'acme';

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(h, T, [chatAgent('ana'), chatAgent('bob')]);
});
afterAll(async () => {
  await h.close();
});

describe('gRPC API over a real server', () => {
  it('an agent who comes online gets the next chat, and the gateway learns the agent name', async () => {
    await call(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: '',
      agentId: 'ana',
      presence: Presence.PRESENCE_ONLINE,
    });
    const r = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('c1'),
    });
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_ASSIGNED);
    expect(r.agentId).toBe('ana');
    expect(r.agentName).toBe('Agent ana');
    const conv = await call(h.gateway, h.gateway.getConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'c1',
    });
    expect(conv.conversation?.agentId).toBe('ana');
    expect(conv.conversation?.explanation?.queueId).toBe('billing');
    expect(typeof conv.conversation?.createdAtMs).toBe('bigint');
  });

  it('with every agent busy a chat waits with its position and estimated wait', async () => {
    const r = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: '',
      conversation: chat('c2'),
    });
    expect(r.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    expect(r.position).toBe(1);
    expect(r.estimatedWaitMs).toBeGreaterThanOrEqual(0);
    const stats = await call(h.stats, h.stats.getQueueStats, {
      tenant: T,
      requestId: '',
      queueId: 'billing',
    });
    expect(stats.stats?.waiting).toBe(1);
  });

  it('repeating an Enqueue gives the same answer and routes nothing twice', async () => {
    const before = h.router.digest(T);
    const again = await call(h.gateway, h.gateway.enqueue, {
      tenant: T,
      requestId: 'retry-1',
      conversation: chat('c2'),
    });
    expect(again.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    expect(again.position).toBe(1);
    expect(h.router.digest(T)).toBe(before);
  });

  it('a customer who leaves is abandoned, and cancelling twice with one request id is harmless', async () => {
    await call(h.gateway, h.gateway.cancel, { tenant: T, requestId: 'cx-1', conversationId: 'c2' });
    await call(h.gateway, h.gateway.cancel, { tenant: T, requestId: 'cx-1', conversationId: 'c2' });
    const conv = await call(h.gateway, h.gateway.getConversation, {
      tenant: T,
      requestId: '',
      conversationId: 'c2',
    });
    expect(conv.conversation?.status).toBe(6); // CONVERSATION_STATUS_ABANDONED
  });

  it('an unknown agent is NOT_FOUND with the catalogue code in the trailers', async () => {
    const err = await callError(h.admin, h.admin.getAgent, { tenant: T, requestId: '', agentId: 'nobody' });
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.metadata.get('sb-error-code')).toEqual(['SB_ERR_AGENT_NOT_FOUND']);
  });

  it('a bad field is INVALID_ARGUMENT naming the field, and changes nothing', async () => {
    const before = h.router.digest(T);
    const agent = chatAgent('eve', {
      skills: [
        { skill: 'billing', level: 5 },
        { skill: 'sales', level: 11 },
      ],
    });
    const err = await callError(h.admin, h.admin.upsertAgent, { tenant: T, requestId: '', agent });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toContain('agent.skills[1].level');
    expect(err.metadata.get('sb-field')).toEqual(['agent.skills[1].level']);
    expect(h.router.digest(T)).toBe(before);
  });

  it('no token is UNAUTHENTICATED, another tenant’s token is PERMISSION_DENIED, the admin token opens any tenant', async () => {
    const req = { tenant: T, requestId: '', agentId: 'ana' };
    expect((await callError(h.admin, h.admin.getAgent, req, null)).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await callError(h.admin, h.admin.getAgent, req, 'forged')).code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect((await callError(h.admin, h.admin.getAgent, req, TOKENS.globex)).code).toBe(
      grpc.status.PERMISSION_DENIED,
    );
    expect((await call(h.admin, h.admin.getAgent, req, ADMIN_TOKEN)).agent?.id).toBe('ana');
  });

  it('an oversized message is RESOURCE_EXHAUSTED', async () => {
    const agent = chatAgent('big', { displayName: 'x'.repeat(100 * 1024) });
    const err = await callError(h.admin, h.admin.upsertAgent, { tenant: T, requestId: '', agent });
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it('a call slower than its deadline is DEADLINE_EXCEEDED', async () => {
    h.router.delayMs = 300;
    try {
      // A tenant of its own: on a busy machine the server may take the call only after the client gave
      // up and the delay was lifted; it is then applied, and in the shared tenant its chat would be the
      // oldest waiting when a later test brings an agent online.
      const err = await callError(
        h.gateway,
        h.gateway.enqueue,
        { tenant: 'slow-partition', requestId: '', conversation: chat('slow') },
        ADMIN_TOKEN,
        {
          deadline: Date.now() + 100,
        },
      );
      expect(err.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    } finally {
      h.router.delayMs = 0;
    }
  });

  it('RemoveCustomer forgets a customer over gRPC and its HTTP mirror, idempotently; a bad id is named', async () => {
    await call(h.admin, h.admin.upsertCustomer, {
      tenant: T,
      requestId: '',
      customer: { id: 'erase-me', valueTier: 2, previousAgents: ['ana'], dedicatedAgentId: 'ana' },
    });
    expect(
      await call(h.admin, h.admin.removeCustomer, { tenant: T, requestId: '', customerId: 'erase-me' }),
    ).toEqual({});
    const gone = await callError(h.admin, h.admin.getCustomer, {
      tenant: T,
      requestId: '',
      customerId: 'erase-me',
    });
    expect(gone.code).toBe(grpc.status.NOT_FOUND);
    // Again, and for a customer never known: not an error (the erasure holds either way).
    await call(h.admin, h.admin.removeCustomer, { tenant: T, requestId: '', customerId: 'erase-me' });
    await call(h.admin, h.admin.removeCustomer, { tenant: T, requestId: '', customerId: 'never-known' });
    await call(h.admin, h.admin.upsertCustomer, {
      tenant: T,
      requestId: '',
      customer: { id: 'erase-http', valueTier: 1, previousAgents: [] },
    });
    const del = await http(h, 'DELETE', `/v1/tenants/${T}/customers/erase-http`);
    expect(del).toMatchObject({ status: 200, body: {} });
    expect((await http(h, 'GET', `/v1/tenants/${T}/customers/erase-http`)).status).toBe(404);
    const bad = await callError(h.admin, h.admin.removeCustomer, {
      tenant: T,
      requestId: '',
      customerId: '',
    });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.metadata.get('sb-field')).toEqual(['customerId']);
    const other = await callError(
      h.admin,
      h.admin.removeCustomer,
      { tenant: T, requestId: '', customerId: 'vip' },
      TOKENS.globex,
    );
    expect(other.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('admin reads: lists, customer profile, routing settings and lint', async () => {
    const agents = await call(h.admin, h.admin.listAgents, {
      tenant: T,
      requestId: '',
      pageSize: 0,
      pageToken: '',
    });
    expect(agents.agents.map((a) => a.id).sort()).toEqual(['ana', 'bob']);
    const queues = await call(h.admin, h.admin.listQueues, {
      tenant: T,
      requestId: '',
      pageSize: 0,
      pageToken: '',
    });
    expect(queues.queues[0]?.id).toBe('billing');
    await call(h.admin, h.admin.upsertCustomer, {
      tenant: T,
      requestId: '',
      customer: { id: 'vip', valueTier: 2, previousAgents: ['ana'], dedicatedAgentId: 'ana' },
    });
    const c = await call(h.admin, h.admin.getCustomer, { tenant: T, requestId: '', customerId: 'vip' });
    expect(c.customer?.dedicatedAgentId).toBe('ana');
    // Routing settings read back as they were set (every field away from its default).
    const config = {
      maxMissedOffers: 3,
      agingPerMinute: 1.5,
      slaDrivenPriority: true,
      queueRules: [
        { channel: Channel.CHANNEL_CHAT, topic: 'refund', skills: ['billing'], queueId: 'billing' },
      ],
      slaAtRiskMargin: 0.05,
    };
    await call(h.admin, h.admin.setRoutingConfig, { tenant: T, requestId: '', config });
    const cfg = await call(h.admin, h.admin.getRoutingConfig, { tenant: T, requestId: '' });
    expect(cfg.config).toEqual(config);
    // A queue requiring a skill no agent has is a lint error naming that queue; gone with the queue.
    await call(h.admin, h.admin.upsertQueue, {
      tenant: T,
      requestId: '',
      queue: chatQueue('spanish', { requiredSkills: [{ skill: 'lang:es', minLevel: 1 }] }),
    });
    const lint = await call(h.admin, h.admin.lint, { tenant: T, requestId: '' });
    expect(lint.findings).toContainEqual(
      expect.objectContaining({ code: 'SKILL_NOBODY_HAS', severity: 'error', queueId: 'spanish' }),
    );
    await call(h.admin, h.admin.removeQueue, { tenant: T, requestId: '', queueId: 'spanish' });
    const after = await call(h.admin, h.admin.lint, { tenant: T, requestId: '' });
    expect(after.findings.filter((f) => f.queueId === 'spanish')).toEqual([]);
    const agentStats = await call(h.stats, h.stats.getAgentStats, {
      tenant: T,
      requestId: '',
      agentId: 'ana',
    });
    expect(agentStats.stats?.presence).toBe(Presence.PRESENCE_ONLINE);
  });

  it('WatchEvents without a token ends at once with UNAUTHENTICATED; an unknown event type is INVALID_ARGUMENT', async () => {
    const failure = (req: Parameters<typeof h.events.watchEvents>[0], token: string | null) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const md = new grpc.Metadata();
        if (token !== null) md.set('authorization', `Bearer ${token}`);
        h.events.watchEvents(req, md).on('error', resolve);
      });
    const anonymous = await failure({ tenant: T, requestId: '', types: [] }, null);
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
    const badType = await failure({ tenant: T, requestId: '', types: ['exploded'] }, TOKENS.acme);
    expect(badType.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(badType.metadata.get('sb-field')).toEqual(['types[0]']);
  });

  it('WatchEvents streams the assignment of a chat in the watched queue', async () => {
    const stream = h.events.watchEvents(
      { tenant: T, requestId: '', queueId: 'billing', types: ['assigned'] },
      (() => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${TOKENS.acme}`);
        return md;
      })(),
    );
    const got = new Promise<Event>((resolve, reject) => {
      stream.on('data', (e: Event) => resolve(e));
      stream.on('error', reject);
    });
    // The watch is registered with the router before anything happens that it must see.
    await waitFor(() => h.router.subscriberCount === 1, { what: 'the watch to subscribe to the router' });
    await call(h.desk, h.desk.setPresence, {
      tenant: T,
      requestId: '',
      agentId: 'bob',
      presence: Presence.PRESENCE_ONLINE,
    });
    await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('c3') });
    const e = await got;
    expect(e.assigned?.conversationId).toBe('c3');
    expect(e.assigned?.agentName).toBe('Agent bob');
    expect(h.router.subscriberCount).toBe(1);
    stream.cancel();
    await waitFor(() => h.router.subscriberCount === 0, {
      what: 'the cancelled watch to unsubscribe from the router',
    });
  });
  it('WatchEvents sends its headers once subscribed, before any event, even on a filter nothing matches yet', async () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${TOKENS.acme}`);
    const stream = h.events.watchEvents(
      { tenant: T, requestId: '', conversationId: 'quiet-1', types: [] },
      md,
    );
    const seen: string[] = [];
    let subscribersAtHeaders = -1;
    const headers = new Promise<void>((resolve, reject) => {
      stream.on('metadata', () => {
        subscribersAtHeaders = h.router.subscriberCount;
        seen.push('headers');
        resolve();
      });
      stream.on('error', reject);
      setTimeout(() => reject(new Error('no headers within 3 s on a quiet filter')), 3000).unref();
    });
    const event = new Promise<Event>((resolve, reject) => {
      setTimeout(() => reject(new Error('no event within 3 s of the enqueue')), 3000).unref();
      stream.on('data', (e: Event) => {
        seen.push('event');
        resolve(e);
      });
    });
    await headers;
    expect(subscribersAtHeaders).toBe(1);
    // Headers promise that everything from now on is delivered.
    await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('quiet-1') });
    expect((await event).tenant).toBe(T);
    expect(seen).toEqual(['headers', 'event']);
    stream.cancel();
    await waitFor(() => h.router.subscriberCount === 0, { what: 'the cancelled watch to unsubscribe' });
  });
});
