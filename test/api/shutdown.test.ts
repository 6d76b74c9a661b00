import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { chat, chatQueue } from './support/fixtures.js';
import { call, callError, http, startHarness } from './support/harness.js';

describe('graceful stop', () => {
  it('a call in flight when the node stops still gets its answer; new calls are refused', async () => {
    const h = await startHarness();
    await call(h.admin, h.admin.upsertQueue, { tenant: 'acme', requestId: '', queue: chatQueue('billing') });
    h.router.delayMs = 200;
    const inFlight = call(h.gateway, h.gateway.enqueue, {
      tenant: 'acme',
      requestId: '',
      conversation: chat('late'),
    });
    await new Promise((r) => setTimeout(r, 50));
    const stopped = h.api.stop(2_000);
    const answer = await inFlight;
    expect(answer.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
    await stopped;
    const err = await callError(h.admin, h.admin.listQueues, { tenant: 'acme', requestId: '' }, undefined, {
      deadline: Date.now() + 500,
    });
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(err.code);
    await expect(http(h, 'GET', '/healthz')).rejects.toThrow();
    for (const c of [h.admin, h.desk, h.gateway, h.stats, h.events]) c.close();
  });
});
