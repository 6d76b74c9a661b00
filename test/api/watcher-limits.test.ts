/**
 * Event watchers per tenant and their node-wide buffer (security review: 100 SSE watchers that never
 * read, opened with one tenant's token, took the node from 132 to 579 MiB, 8 MiB of buffer each, with no
 * limit on how many). At most --max-watchers-per-tenant open per tenant, and all watchers of the node
 * together hold at most --watch-buffer-budget-mb of unsent events.
 */
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, expect, it } from 'vitest';
import { WatchEventsRequest } from '../../src/gen/switchboard/v1/events.js';
import { waitFor } from '../support/wait-for.js';
import { floodWatchers } from './support/engine-router.js';
import { bearer, type Harness, http, startHarness, TOKENS } from './support/harness.js';

let h: Harness | null = null;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await h?.close();
  h = null;
});

/** An SSE watcher of acme that reads its first bytes, then never again. */
async function stalledWatcher(port: number, tenant = 'acme', token = TOKENS.acme): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise((r) => socket.once('connect', r));
  socket.write(
    `GET /v1/tenants/${tenant}/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${token}\r\n\r\n`,
  );
  await new Promise((r) => socket.once('data', r));
  socket.pause();
  return socket;
}

it('one watcher more than the tenant may have is refused (429 / RESOURCE_EXHAUSTED); another tenant, or a freed slot, gets in', async () => {
  h = await startHarness({ watcherLimits: { perTenant: 2 } });
  const first = await stalledWatcher(h.httpPort);
  await stalledWatcher(h.httpPort);
  const refused = await http(h, 'GET', '/v1/tenants/acme/events');
  expect(refused.status).toBe(429);
  expect(refused.body).toMatchObject({ error: { code: 'SB_ERR_TOO_MANY_WATCHERS' } });
  const grpcRefusal = await new Promise<grpc.ServiceError>((resolve) =>
    h!.events
      .watchEvents(WatchEventsRequest.fromPartial({ tenant: 'acme' }), bearer(TOKENS.acme))
      .on('error', resolve),
  );
  expect(grpcRefusal.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  expect(grpcRefusal.metadata.get('sb-error-code')).toEqual(['SB_ERR_TOO_MANY_WATCHERS']);
  await stalledWatcher(h.httpPort, 'globex', TOKENS.globex);
  first.destroy();
  await waitFor(() => h!.router.subscriberCount === 2, { what: 'the closed watcher to be dropped' });
  await stalledWatcher(h.httpPort);
  expect(h.router.subscriberCount).toBe(3);
});

it("watchers that stop reading are cut off once the node's buffer budget is used, each far below its own limit", async () => {
  // Each may hold 64 MiB, the node 256 KiB for all of them.
  h = await startHarness({
    watchBufferBytes: 64 * 1024 * 1024,
    watcherLimits: { bufferBudgetBytes: 256 * 1024 },
  });
  for (let i = 0; i < 4; i++) await stalledWatcher(h.httpPort);
  expect(h.router.subscriberCount).toBe(4);
  const sent = await floodWatchers(h.router, 'acme', 120_000, 200);
  console.log(`[watcher-limits] cut off after ${sent} events`);
  // ~900-byte SSE events, to each of the four: 64 MiB each would take ~75 000 of them, plus what the
  // kernel buffers (here ~5 000 with the budget, ~13 000 with 8 MiB each and no budget).
  expect(h.router.subscriberCount).toBe(0);
  expect(sent).toBeLessThan(40_000);
  // Their bytes are given back once they are gone: a new watcher gets events again.
  for (const s of sockets.splice(0)) s.destroy();
  await waitFor(() => h!.api.service.watchBudget.inUse === 0, { what: 'the budget to be given back' });
  const socket = connect(h.httpPort, '127.0.0.1');
  sockets.push(socket);
  let got = '';
  socket.on('data', (d: Buffer) => {
    got += d.toString();
  });
  socket.write(
    `GET /v1/tenants/acme/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKENS.acme}\r\n\r\n`,
  );
  await waitFor(() => got.includes(': watching'), { what: 'the new watcher' });
  h.router.emit('acme', {
    type: 'alert',
    alert: 'queue_over_capacity',
    queueId: 'q',
    agentId: 'a',
    value: 1,
  });
  await waitFor(() => got.includes('event: alert'), { what: 'an event for the new watcher' });
});
