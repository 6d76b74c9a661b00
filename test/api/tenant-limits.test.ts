/**
 * --max-queues-per-tenant / --max-agents-per-tenant through the API: the service stamps the limits on
 * each upsert's envelope and the engine refuses one more with SB_ERR_TENANT_LIMIT_REACHED (gRPC
 * FAILED_PRECONDITION, HTTP 409), naming the field; updates of existing ones still apply.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, it } from 'vitest';
import { chatAgent } from './support/fixtures.js';
import { call, type Harness, http, startHarness } from './support/harness.js';

let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

it('one queue or agent more than the tenant may have is refused, naming the field; the other tenants are not affected', async () => {
  h = await startHarness({ tenantLimits: { maxQueues: 2, maxAgents: 1 } });
  const put = (tenant: string, id: string) =>
    http(
      h!,
      'PUT',
      `/v1/tenants/${tenant}/queues/${id}`,
      { name: 'Q', channel: 'CHANNEL_CHAT', strategy: 'STRATEGY_LONGEST_IDLE' },
      'tok-admin',
    );
  expect((await put('acme', 'q1')).status).toBe(200);
  expect((await put('acme', 'q2')).status).toBe(200);
  const refused = await put('acme', 'q3');
  expect(refused.status).toBe(409);
  expect(refused.body).toMatchObject({ error: { code: 'SB_ERR_TENANT_LIMIT_REACHED', field: 'queue.id' } });
  expect((await put('acme', 'q2')).status).toBe(200); // an update
  expect((await put('globex', 'q1')).status).toBe(200); // a tenant of its own
  await call(h.admin, h.admin.upsertAgent, { tenant: 'acme', requestId: '', agent: chatAgent('ann') });
  const err = await call(h.admin, h.admin.upsertAgent, {
    tenant: 'acme',
    requestId: '',
    agent: chatAgent('bob'),
  }).catch((e: grpc.ServiceError) => e);
  expect(err).toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
  expect((err as grpc.ServiceError).metadata.get('sb-error-code')).toEqual(['SB_ERR_TENANT_LIMIT_REACHED']);
  expect((err as grpc.ServiceError).metadata.get('sb-field')).toEqual(['agent.id']);
});
