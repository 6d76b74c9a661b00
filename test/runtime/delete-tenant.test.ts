/**
 * DeleteTenant on an embedded node (the real host behind the gRPC and HTTP API): admin token only,
 * refused while conversations are open unless `force`, idempotent, durable across a restart, and a
 * deletion stopped half-way by a crash (after its tombstone, or after the snapshot went) is finished at
 * the next start without the tenant coming back in any form.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type Api, createApi } from '../../src/api/index.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { type Event, EventServiceClient } from '../../src/gen/switchboard/v1/events.js';
import type { DeleteFaults } from '../../src/host/partition-host.js';
import { LocalPartitionRouter } from '../../src/host/router.js';
import { waitFor } from '../support/wait-for.js';
import { type Harness, hostsOfThisFile } from './harness.js';

const start = hostsOfThisFile();
const ADMIN = 'tok-admin';
const ACME = 'tok-acme';
const T = 'acme';

interface Node {
  h: Harness;
  api: Api;
  admin: InstanceType<typeof AdminServiceClient>;
  events: InstanceType<typeof EventServiceClient>;
  httpPort: number;
}
const open: Node[] = [];

async function node(opts: { dir?: string; faults?: DeleteFaults } = {}): Promise<Node> {
  const h = await start({
    maxLoopLagMs: 0,
    ...(opts.dir ? { dir: opts.dir } : {}),
    ...(opts.faults ? { deleteFaults: opts.faults } : {}),
  });
  const api = createApi({
    router: new LocalPartitionRouter(h.host),
    clock: { now: () => Date.now() },
    auth: { tokens: { acme: ACME }, adminToken: ADMIN },
    registry: h.registry,
    logger: pino({ level: 'silent' }),
  });
  const { grpcPort, httpPort } = await api.start({ host: '127.0.0.1', grpcPort: 0, httpPort: 0 });
  const creds = grpc.credentials.createInsecure();
  const n = {
    h,
    api,
    admin: new AdminServiceClient(`127.0.0.1:${grpcPort}`, creds),
    events: new EventServiceClient(`127.0.0.1:${grpcPort}`, creds),
    httpPort,
  };
  open.push(n);
  return n;
}

async function close(n: Node, how: 'stop' | 'crash' = 'stop'): Promise<void> {
  n.admin.close();
  n.events.close();
  await n.api.stop(200);
  if (how === 'stop') await n.h.stop();
  else await n.h.crash();
  open.splice(open.indexOf(n), 1);
}

afterEach(async () => {
  for (const n of [...open]) await close(n, 'crash').catch(() => undefined);
});

function md(token: string | null): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token) m.set('authorization', `Bearer ${token}`);
  return m;
}

function deleteTenant(
  n: Node,
  tenant: string,
  token: string | null,
  force = false,
): Promise<{ existed: boolean; openConversations: number }> {
  return new Promise((resolve, reject) =>
    n.admin.deleteTenant({ tenant, requestId: '', force }, md(token), (err, res) =>
      err ? reject(err) : resolve(res),
    ),
  );
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of ['log', 'snapshots']) {
    for (const f of await readdir(join(dir, sub)).catch(() => [])) out.push(`${sub}/${f}`);
  }
  return out;
}

/** A queue, an online agent and (optionally) a conversation waiting for nobody (the agent is away). */
async function desk(h: Harness, tenant: string, waiting: boolean): Promise<void> {
  for (const cmd of [
    { type: 'upsert_queue', queue: queueConfig('q1') },
    { type: 'upsert_agent', agent: agentConfig('ana') },
  ] as const) {
    const r = await h.send(tenant, cmd);
    expect(r.ok).toBe(true);
  }
  if (waiting) {
    const r = await h.send(tenant, { type: 'enqueue', conversation: conversation('c1', { queueId: 'q1' }) });
    expect(r.ok).toBe(true);
  }
}

describe('DeleteTenant (embedded)', () => {
  it('deletes a tenant: files, partition, series go, watchers end with OK, reads answer as for no tenant; idempotent; gone after a restart', async () => {
    const n = await node();
    await desk(n.h, T, false);
    await desk(n.h, 'other', false);
    await n.h.host.drain(T); // a snapshot too, so that one is removed as well
    expect((await files(n.h.dir)).filter((f) => f.includes(T))).not.toEqual([]);
    expect(await n.h.registry.metrics()).toContain(`tenant="${T}"`);

    // A gRPC watcher and an SSE watcher of the tenant.
    const got: Event[] = [];
    let status: grpc.StatusObject | null = null;
    const stream = n.events.watchEvents({ tenant: T, requestId: '', types: [] }, md(ADMIN));
    stream.on('data', (e: Event) => got.push(e));
    stream.on('status', (s: grpc.StatusObject) => {
      status = s;
    });
    stream.on('error', () => undefined);
    const sse = await fetch(`http://127.0.0.1:${n.httpPort}/v1/tenants/${T}/events`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(sse.status).toBe(200);
    const sseText = sse.text();
    await new Promise((r) => setTimeout(r, 100));

    expect(await deleteTenant(n, T, ADMIN)).toEqual({ existed: true, openConversations: 0 });
    await waitFor(() => status !== null, { what: 'the gRPC watcher to end' });
    expect((status as grpc.StatusObject | null)?.code).toBe(grpc.status.OK);
    expect(await sseText).toContain('event: end');

    expect((await files(n.h.dir)).filter((f) => f.includes(T))).toEqual([]);
    expect(n.h.host.slotOf(T)).toBeNull();
    expect(n.h.host.partitionsOwned).toBe(1);
    expect(await n.h.registry.metrics()).not.toContain(`tenant="${T}"`);
    const agent = await n.h.host.query(T, { type: 'agent', agentId: 'ana' });
    expect(agent).toEqual({ type: 'agent', agent: null });
    // The other tenant is untouched.
    const other = await n.h.host.query('other', { type: 'agent', agentId: 'ana' });
    expect(other.type === 'agent' && other.agent?.id).toBe('ana');

    // Idempotent.
    expect(await deleteTenant(n, T, ADMIN)).toEqual({ existed: false, openConversations: 0 });
    expect(await deleteTenant(n, 'never-was', ADMIN)).toEqual({ existed: false, openConversations: 0 });

    // Gone after a restart; the other tenant is still there.
    await close(n);
    const again = await node({ dir: n.h.dir });
    expect(again.h.host.slotOf(T)).toBeNull();
    expect(again.h.host.partitionsOwned).toBe(1);
    expect((await files(again.h.dir)).filter((f) => f.includes(T))).toEqual([]);

    // A command that changes the tenant id afterwards starts a new, empty tenant.
    expect((await again.h.send(T, { type: 'upsert_queue', queue: queueConfig('q2') })).ok).toBe(true);
    const queues = await again.h.host.query(T, { type: 'list_queues' });
    expect(queues.type === 'list_queues' && queues.queues.map((q) => q.id)).toEqual(['q2']);
  });

  it('only an admin token may delete (a tenant token: PERMISSION_DENIED, none: UNAUTHENTICATED), over gRPC and HTTP', async () => {
    const n = await node();
    await desk(n.h, T, false);
    const denied = await deleteTenant(n, T, ACME).catch((e: grpc.ServiceError) => e);
    expect((denied as grpc.ServiceError).code).toBe(grpc.status.PERMISSION_DENIED);
    const anonymous = await deleteTenant(n, T, null).catch((e: grpc.ServiceError) => e);
    expect((anonymous as grpc.ServiceError).code).toBe(grpc.status.UNAUTHENTICATED);
    const http = await fetch(`http://127.0.0.1:${n.httpPort}/v1/tenants/${T}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ACME}` },
    });
    expect(http.status).toBe(403);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe('SB_ERR_PERMISSION_DENIED');
    // Nothing was deleted.
    const q = await n.h.host.query(T, { type: 'queue', queueId: 'q1' });
    expect(q.type === 'queue' && q.queue?.id).toBe('q1');
  });

  it('refuses while conversations are open (FAILED_PRECONDITION, HTTP 409) unless force', async () => {
    const n = await node();
    await desk(n.h, T, true);
    const refused = await deleteTenant(n, T, ADMIN).catch((e: grpc.ServiceError) => e);
    expect((refused as grpc.ServiceError).code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((refused as grpc.ServiceError).details).toContain('1 open conversation');
    const http = await fetch(`http://127.0.0.1:${n.httpPort}/v1/tenants/${T}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(http.status).toBe(409);
    expect(((await http.json()) as { error: { code: string } }).error.code).toBe(
      'SB_ERR_TENANT_HAS_OPEN_CONVERSATIONS',
    );
    // Still there and serving.
    const c = await n.h.host.query(T, { type: 'conversation', conversationId: 'c1' });
    expect(c.type === 'conversation' && c.conversation?.status).toBe('waiting');

    const forced = await fetch(`http://127.0.0.1:${n.httpPort}/v1/tenants/${T}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ force: true }),
    });
    expect(forced.status).toBe(200);
    expect(await forced.json()).toEqual({ existed: true, openConversations: 1 });
    expect((await files(n.h.dir)).filter((f) => f.includes(T))).toEqual([]);
  });

  for (const step of ['afterTombstone', 'afterSnapshotRemoved'] as const) {
    it(`a crash ${step === 'afterTombstone' ? 'between the tombstone and the removals' : 'after the snapshot went, before the log'}: the next start finishes the deletion`, async () => {
      const faults: DeleteFaults = {
        [step]: () => {
          throw new Error('crash (test hook)');
        },
      };
      const n = await node({ faults });
      await desk(n.h, T, false);
      await n.h.host.drain(T);
      const failed = await deleteTenant(n, T, ADMIN).catch((e: grpc.ServiceError) => e);
      expect((failed as grpc.ServiceError).code).toBe(grpc.status.INTERNAL);
      const left = (await files(n.h.dir)).filter((f) => f.includes(T));
      expect(left).toContain(`log/${T}.deleted`);
      expect(left).toContain(`log/${T}.log`);
      if (step === 'afterTombstone') expect(left).toContain(`snapshots/${T}.snap`);
      else expect(left).not.toContain(`snapshots/${T}.snap`);
      // Meanwhile the tenant reads as no tenant (nothing of it loads).
      const q = await n.h.host.query(T, { type: 'queue', queueId: 'q1' });
      expect(q).toEqual({ type: 'queue', queue: null });

      await close(n, 'crash');
      const again = await node({ dir: n.h.dir });
      expect(again.h.host.slotOf(T)).toBeNull();
      expect((await files(again.h.dir)).filter((f) => f.includes(T))).toEqual([]);
      const after = await again.h.host.query(T, { type: 'queue', queueId: 'q1' });
      expect(after).toEqual({ type: 'queue', queue: null });
      expect(await deleteTenant(again, T, ADMIN)).toEqual({ existed: false, openConversations: 0 });
    });
  }

  it('a deletion stopped half-way is finished by the next DeleteTenant on the running node', async () => {
    let fail = true;
    const n = await node({
      faults: {
        afterTombstone: () => {
          if (fail) throw new Error('crash (test hook)');
        },
      },
    });
    await desk(n.h, T, false);
    await deleteTenant(n, T, ADMIN).catch(() => undefined);
    expect((await files(n.h.dir)).filter((f) => f.includes(T)).length).toBeGreaterThan(0);
    fail = false;
    expect(await deleteTenant(n, T, ADMIN)).toEqual({ existed: false, openConversations: 0 });
    expect((await files(n.h.dir)).filter((f) => f.includes(T))).toEqual([]);
  });
});
