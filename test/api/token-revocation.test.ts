/**
 * A token removed by a reload (`--tokens-file`) stops open event streams too: the watcher's token is
 * checked again before its next event, so a revoked credential does not keep receiving a tenant's events
 * until its client happens to reconnect. Streams on tokens still valid go on.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Event } from '../../src/gen/switchboard/v1/events.js';
import { waitFor } from '../support/wait-for.js';
import { chat, chatAgent } from './support/fixtures.js';
import {
  ADMIN_TOKEN,
  bearer,
  billingDesk,
  call,
  type Harness,
  startHarness,
  TOKENS,
} from './support/harness.js';

let h: Harness;
const T = 'acme';

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(
    h,
    T,
    ['ana', 'bob'].map((id) => chatAgent(id, { capacity: { chat: 5 } })),
    true,
  );
});
afterAll(async () => {
  await h.close();
});

describe('token revocation and open event streams', () => {
  it('gRPC and SSE streams on a revoked token end UNAUTHENTICATED before the next event; others go on', async () => {
    const watch = (token: string) => {
      const got: Event[] = [];
      let error: grpc.ServiceError | null = null;
      const s = h.events.watchEvents({ tenant: T, requestId: '', types: ['assigned'] }, bearer(token));
      s.on('data', (e: Event) => got.push(e));
      s.on('error', (e: grpc.ServiceError) => {
        error = e;
      });
      return { got, error: () => error, cancel: () => s.cancel() };
    };
    const revoked = watch(TOKENS.acme);
    const admin = watch(ADMIN_TOKEN);
    const sseAbort = new AbortController();
    try {
      const sse = await fetch(`http://127.0.0.1:${h.httpPort}/v1/tenants/${T}/events?types=assigned`, {
        headers: { authorization: `Bearer ${TOKENS.acme}` },
        signal: sseAbort.signal,
      });
      expect(sse.status).toBe(200);
      await waitFor(() => h.router.subscriberCount === 3, {
        what: 'the two gRPC watches and the SSE stream to subscribe',
      });
      const enqueue = (id: string) =>
        call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat(id) }, ADMIN_TOKEN);
      await enqueue('c-before');
      await waitFor(() => revoked.got.length === 1 && admin.got.length === 1, {
        what: 'both gRPC watches to receive the assignment of c-before',
      });

      // The reload: acme's token is gone (globex keeps its own, the admin token stays).
      h.api.service.setAuth({ tokens: { globex: [TOKENS.globex] }, adminToken: ADMIN_TOKEN });
      await enqueue('c-after');
      await waitFor(() => admin.got.length === 2 && revoked.error() !== null, {
        what: 'the admin watch to get c-after and the revoked one to end',
      });
      expect(revoked.got.length).toBe(1);
      expect(revoked.error()?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(admin.got.map((e) => e.assigned?.conversationId)).toEqual(['c-before', 'c-after']);
      expect(admin.error()).toBeNull();
      // The SSE stream ends by itself on the revoked token, so its whole text can be read.
      const text = await sse.text();
      expect(text).toContain('c-before');
      expect(text).not.toContain('c-after');
      expect(text).toContain('"code":"SB_ERR_UNAUTHENTICATED"');
    } finally {
      admin.cancel();
      revoked.cancel();
      sseAbort.abort();
    }
  });
});
