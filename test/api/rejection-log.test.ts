/**
 * Rejected calls (bad input 400, no or unknown token 401, another tenant's token 403) are logged at level
 * 40 as `call rejected` — method, code, field, tenant, credential kind, never the token — and sampled, so
 * a misbehaving gateway cannot flood the log (deploy/RUNBOOK.md, "Reading the logs").
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RejectionLog } from '../../src/api/service.js';
import { chat, chatQueue } from './support/fixtures.js';
import { call, callError, type Harness, http, startHarness, TOKENS } from './support/harness.js';

type Line = Record<string, unknown> & { level: number; msg: string };
const lines: Line[] = [];
const raw: string[] = [];
const logger = pino(
  { level: 'info' },
  {
    write(s: string) {
      raw.push(s);
      lines.push(JSON.parse(s) as Line);
    },
  },
);
const rejected = () => lines.filter((l) => l.msg === 'call rejected');

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ logger });
  await call(h.admin, h.admin.upsertQueue, { tenant: 'acme', requestId: '', queue: chatQueue('billing') });
});
afterAll(async () => {
  await h.close();
});

describe('call rejected (level 40)', () => {
  it('names method, code, field, tenant and the kind of credential, over HTTP and gRPC, never the token', async () => {
    lines.length = 0;
    expect((await http(h, 'GET', '/v1/tenants/acme/queues', undefined, null)).status).toBe(401);
    expect((await http(h, 'GET', '/v1/tenants/acme/queues', undefined, 'NotAToken-7f3a')).status).toBe(401);
    expect((await http(h, 'GET', '/v1/tenants/acme/queues', undefined, TOKENS.globex)).status).toBe(403);
    const bad = await http(h, 'POST', '/v1/tenants/acme/conversations', {
      id: 'c1',
      channel: 'CHANNEL_CHAT',
      customer: { id: 'x' },
      queueId: 'billing',
      priority: 42,
    });
    expect(bad.status).toBe(400);
    const denied = await callError(
      h.gateway,
      h.gateway.enqueue,
      { tenant: 'acme', requestId: '', conversation: chat('c2') },
      TOKENS.globex,
    );
    expect(denied.code).toBe(grpc.status.PERMISSION_DENIED);
    // A successful call and a not-found are not rejections.
    await call(h.admin, h.admin.listQueues, { tenant: 'acme', requestId: '', pageSize: 0, pageToken: '' });
    expect((await http(h, 'GET', '/v1/tenants/acme/conversations/ghost')).status).toBe(404);

    expect(
      rejected().map(({ level, method, code, field, tenant, credential }) => ({
        level,
        method,
        code,
        field,
        tenant,
        credential,
      })),
    ).toEqual([
      {
        level: 40,
        method: 'listQueues',
        code: 'SB_ERR_UNAUTHENTICATED',
        field: undefined,
        tenant: 'acme',
        credential: 'none',
      },
      {
        level: 40,
        method: 'listQueues',
        code: 'SB_ERR_UNAUTHENTICATED',
        field: undefined,
        tenant: 'acme',
        credential: 'unknown',
      },
      {
        level: 40,
        method: 'listQueues',
        code: 'SB_ERR_PERMISSION_DENIED',
        field: 'tenant',
        tenant: 'acme',
        credential: 'tenant',
      },
      {
        level: 40,
        method: 'enqueue',
        code: 'SB_ERR_INVALID_ARGUMENT',
        field: 'conversation.priority',
        tenant: 'acme',
        credential: 'tenant',
      },
      {
        level: 40,
        method: 'enqueue',
        code: 'SB_ERR_PERMISSION_DENIED',
        field: 'tenant',
        tenant: 'acme',
        credential: 'tenant',
      },
    ]);
    const all = raw.join('');
    for (const t of ['NotAToken-7f3a', TOKENS.globex, TOKENS.acme]) expect(all).not.toContain(t);
  });

  it('a gateway sending garbage at full speed gets a few lines per window, then one count of the rest', async () => {
    lines.length = 0;
    await Promise.all(
      Array.from({ length: 200 }, () =>
        http(h, 'GET', '/v1/tenants/acme/queues', undefined, 'garbage-token'),
      ),
    );
    expect(rejected().length).toBeLessThanOrEqual(20);
  });
});

describe('RejectionLog', () => {
  it('admits `limit` lines per window and sums up what it held back when the window closes', async () => {
    const out: Line[] = [];
    const log = pino({ level: 'info' }, { write: (s: string) => out.push(JSON.parse(s) as Line) });
    let now = 1_000;
    const r = new RejectionLog(log, 3, 50, () => now);
    const admitted = Array.from({ length: 10 }, () => r.admit()).filter(Boolean).length;
    expect(admitted).toBe(3);
    await new Promise((res) => setTimeout(res, 120));
    expect(out).toEqual([
      expect.objectContaining({ level: 40, msg: 'rejected calls not logged', suppressed: 7, limit: 3 }),
    ]);
    now += 50;
    expect(r.admit()).toBe(true);
  });
});
