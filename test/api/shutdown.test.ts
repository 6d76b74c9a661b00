import * as grpc from '@grpc/grpc-js';
import { describe, expect, it, vi } from 'vitest';
import { EnqueueStatus } from '../../src/gen/switchboard/v1/gateway.js';
import { waitFor } from '../support/wait-for.js';
import { chat, chatQueue } from './support/fixtures.js';
import { call, callError, http, startHarness } from './support/harness.js';

describe('graceful stop', () => {
  it('a call in flight when the node stops still gets its answer; new calls are refused', async () => {
    const h = await startHarness();
    try {
      await call(h.admin, h.admin.upsertQueue, {
        tenant: 'acme',
        requestId: '',
        queue: chatQueue('billing'),
      });
      // The enqueue is held inside the router until the stop has begun: in flight, whatever the timing.
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const submit = h.router.submit.bind(h.router);
      const entered = vi.spyOn(h.router, 'submit').mockImplementation(async (...args) => {
        await gate;
        return submit(...args);
      });
      const inFlight = call(h.gateway, h.gateway.enqueue, {
        tenant: 'acme',
        requestId: '',
        conversation: chat('late'),
      });
      await waitFor(() => entered.mock.calls.length === 1, { what: 'the enqueue to reach the router' });
      const stopped = h.api.stop(2_000);
      release();
      const answer = await inFlight;
      expect(answer.status).toBe(EnqueueStatus.ENQUEUE_STATUS_QUEUED);
      await stopped;
      const err = await callError(h.admin, h.admin.listQueues, { tenant: 'acme', requestId: '' }, undefined, {
        deadline: Date.now() + 500,
      });
      expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(err.code);
      await expect(http(h, 'GET', '/healthz')).rejects.toThrow();
    } finally {
      // Closes the clients; stopping an API already stopped is harmless.
      await h.close();
    }
  });
});
