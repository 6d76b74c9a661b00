/**
 * The audit log: one line per configuration change (what, tenant, target, which credential, command id),
 * none for conversation traffic, and no customer id in it (the line outlives an erasure request).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chat, chatQueue } from './support/fixtures.js';
import { ADMIN_TOKEN, call, type Harness, startHarness } from './support/harness.js';

let h: Harness;
const lines: Record<string, unknown>[] = [];
const T = 'acme';

beforeAll(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  h = await startHarness({ logger: pino({ level: 'info' }, sink) });
});
afterAll(async () => {
  await h.close();
});

const audits = () => lines.filter((l) => l.audit !== undefined);

describe('audit log', () => {
  it('logs each configuration change with the credential kind and command id, and no conversation call', async () => {
    await call(
      h.admin,
      h.admin.upsertQueue,
      { tenant: T, requestId: 'q-1', queue: chatQueue('billing') },
      ADMIN_TOKEN,
    );
    await call(h.admin, h.admin.upsertCustomer, {
      tenant: T,
      requestId: '',
      customer: { id: 'cust-secret-42', valueTier: 1, previousAgents: [] },
    });
    await call(h.admin, h.admin.removeCustomer, {
      tenant: T,
      requestId: 'erase-7',
      customerId: 'cust-secret-42',
    });
    await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('c-1') });
    // The same request id again: answered from the first time, logged as a duplicate.
    await call(
      h.admin,
      h.admin.upsertQueue,
      { tenant: T, requestId: 'q-1', queue: chatQueue('billing') },
      ADMIN_TOKEN,
    );
    expect(audits()).toEqual([
      expect.objectContaining({
        audit: 'upsert_queue',
        tenant: T,
        target: 'billing',
        by: 'admin',
        commandId: 'r:q-1',
        msg: 'configuration changed',
      }),
      expect.objectContaining({ audit: 'upsert_customer', tenant: T, by: 'tenant' }),
      expect.objectContaining({
        audit: 'remove_customer',
        tenant: T,
        by: 'tenant',
        commandId: 'r:erase-7',
      }),
      expect.objectContaining({ audit: 'upsert_queue', target: 'billing', duplicate: true }),
    ]);
    expect(JSON.stringify(lines)).not.toContain('cust-secret-42');
    expect(audits().some((l) => l.audit === 'enqueue')).toBe(false);
  });
});
