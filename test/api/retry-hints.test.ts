/**
 * Retry hints on refusals a caller should retry: gRPC's `grpc-retry-pushback-ms` trailer (which a
 * client's retry policy obeys instead of its own backoff) and HTTP `Retry-After`, from the catalogue's
 * `retryAfterMs` with ±50 % jitter; none on errors not worth retrying.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryAfterMs, SwitchboardError } from '../../src/errors/catalogue.js';
import { EnqueueStatus, GatewayServiceClient } from '../../src/gen/switchboard/v1/gateway.js';
import { chat, chatAgent } from './support/fixtures.js';
import { billingDesk, call, callError, type Harness, http, startHarness, TOKENS } from './support/harness.js';

let h: Harness;
const T = 'acme';

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(h, T, [chatAgent('ana')]);
});
afterAll(async () => {
  await h.close();
});

const enqueue = (id: string) => ({ tenant: T, requestId: '', conversation: chat(id) });

describe('retry hints', () => {
  it('the catalogue hint comes with ±50 % jitter, and only for codes worth waiting on', () => {
    expect(retryAfterMs('SB_ERR_OVERLOADED', () => 0)).toBe(125);
    expect(retryAfterMs('SB_ERR_OVERLOADED', () => 0.999)).toBe(375);
    expect(retryAfterMs('SB_ERR_UNAVAILABLE', () => 0.5)).toBe(500);
    expect(retryAfterMs('SB_ERR_NOT_OWNER', () => 0.5)).toBe(500);
    expect(retryAfterMs('SB_ERR_INVALID_ARGUMENT')).toBeNull();
    // Not a wait: the command may still become durable; the caller retries with the same id at once.
    expect(retryAfterMs('SB_ERR_DEADLINE_EXCEEDED')).toBeNull();
  });

  it('gRPC: an overloaded node answers RESOURCE_EXHAUSTED with a pushback; a bad request has none', async () => {
    h.router.failNext.push(new SwitchboardError('SB_ERR_OVERLOADED', 'node has 20000 commands in flight'));
    const refused = await callError(h.gateway, h.gateway.enqueue, enqueue('c-over'));
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    const pushback = Number(refused.metadata.get('grpc-retry-pushback-ms')[0]);
    expect(pushback).toBeGreaterThanOrEqual(125);
    expect(pushback).toBeLessThanOrEqual(375);
    const bad = await callError(h.gateway, h.gateway.enqueue, {
      ...enqueue('c-bad'),
      conversation: chat(''),
    });
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.metadata.get('grpc-retry-pushback-ms')).toEqual([]);
  });

  it('gRPC: a client with a retry policy waits the pushback and gets through on its own', async () => {
    const serviceConfig = {
      methodConfig: [
        {
          name: [{ service: 'switchboard.v1.GatewayService' }],
          retryPolicy: {
            maxAttempts: 3,
            initialBackoff: '0.001s',
            maxBackoff: '0.001s',
            backoffMultiplier: 1,
            retryableStatusCodes: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'],
          },
        },
      ],
    };
    const client = new GatewayServiceClient(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure(), {
      'grpc.service_config': JSON.stringify(serviceConfig),
    });
    try {
      h.router.failNext.push(new SwitchboardError('SB_ERR_UNAVAILABLE', 'partition acme is moving'));
      const t0 = Date.now();
      const r = await call(client, client.enqueue, enqueue('c-retried'));
      const waited = Date.now() - t0;
      expect([EnqueueStatus.ENQUEUE_STATUS_ASSIGNED, EnqueueStatus.ENQUEUE_STATUS_QUEUED]).toContain(
        r.status,
      );
      // Its own backoff is 1 ms: the wait is the server's pushback (250–750 ms for UNAVAILABLE).
      expect(waited).toBeGreaterThanOrEqual(240);
      expect(h.router.failNext).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('HTTP: 429 and 503 carry Retry-After (whole seconds); a 400 does not', async () => {
    h.router.failNext.push(new SwitchboardError('SB_ERR_OVERLOADED', 'node has 20000 commands in flight'));
    const url = `/v1/tenants/${T}/conversations`;
    const body = { id: 'h-over', channel: 'CHANNEL_CHAT', customer: { id: 'cu' }, queueId: 'billing' };
    const res429 = await fetch(`http://127.0.0.1:${h.httpPort}${url}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res429.status).toBe(429);
    expect(res429.headers.get('retry-after')).toBe('1');
    h.router.failNext.push(new SwitchboardError('SB_ERR_UNAVAILABLE', 'partition acme is moving'));
    const res503 = await fetch(`http://127.0.0.1:${h.httpPort}${url}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, id: 'h-moving' }),
    });
    expect(res503.status).toBe(503);
    expect(res503.headers.get('retry-after')).toBe('1');
    const res400 = await http(h, 'POST', url, { ...body, id: '' });
    expect(res400.status).toBe(400);
    const raw = await fetch(`http://127.0.0.1:${h.httpPort}${url}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, id: '' }),
    });
    expect(raw.headers.get('retry-after')).toBeNull();
  });
});
