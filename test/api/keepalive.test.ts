/**
 * Connection upkeep on the gRPC server (`--grpc-keepalive-ms`, `--grpc-max-connection-age-ms`): a client
 * that stops answering (a gateway host that died without closing its sockets, a dropped NAT entry) loses
 * its connection and its WatchEvents subscriptions instead of holding them for good; with a maximum age,
 * clients move to a fresh connection (and so spread over nodes added since) without failing a call.
 * The client reaches the server through a TCP relay the test can freeze in the client → server direction.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { KeepaliveOptions } from '../../src/api/grpc-server.js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { EventServiceClient } from '../../src/gen/switchboard/v1/events.js';
import { chatQueue } from './support/fixtures.js';
import { bearer, call, type Harness, startHarness, TOKENS } from './support/harness.js';

interface Relay {
  port: number;
  /** Connections seen, each with whether the server side has closed it. */
  conns: { serverClosed: boolean }[];
  /** Stops passing anything from the clients to the server (the server's frames still reach them). */
  freeze(): void;
  close(): Promise<void>;
}

async function relayTo(target: number): Promise<Relay> {
  const pairs: { client: Socket; upstream: Socket }[] = [];
  const conns: { serverClosed: boolean }[] = [];
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(target, '127.0.0.1');
    const c = { serverClosed: false };
    conns.push(c);
    pairs.push({ client, upstream });
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on('close', () => {
      c.serverClosed = true;
      client.destroy();
    });
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    conns,
    freeze() {
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        client.pause();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

const T = 'acme';
let h: Harness | null = null;
let relay: Relay | null = null;
const clients: grpc.Client[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await relay?.close();
  await h?.close();
  h = null;
  relay = null;
});

async function setup(keepalive: KeepaliveOptions): Promise<{ h: Harness; relay: Relay; address: string }> {
  h = await startHarness({ keepalive });
  relay = await relayTo(h.grpcPort);
  return { h, relay, address: `127.0.0.1:${relay.port}` };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  return cond();
}

/** Opens a WatchEvents stream through the relay and waits until the server has subscribed it. */
async function watchThroughRelay(address: string, harness: Harness): Promise<void> {
  const events = new EventServiceClient(address, grpc.credentials.createInsecure());
  clients.push(events);
  const stream = events.watchEvents({ tenant: T, requestId: '', types: ['assigned'] }, bearer(TOKENS.acme));
  stream.on('error', () => {});
  expect(await until(() => harness.router.subscriberCount === 1, 3000)).toBe(true);
}

describe('gRPC connection keepalive and maximum age', () => {
  it('a client that stops answering pings loses its connection and its WatchEvents subscription', async () => {
    const { h, relay, address } = await setup({ timeMs: 300, timeoutMs: 300, maxConnectionAgeMs: 0 });
    await watchThroughRelay(address, h);
    relay.freeze();
    expect(await until(() => relay.conns[0]?.serverClosed === true, 5000)).toBe(true);
    expect(await until(() => h.router.subscriberCount === 0, 2000)).toBe(true);
  });

  it('without keepalive the same frozen client keeps both (what the default of 30 s prevents)', async () => {
    const { h, relay, address } = await setup({ timeMs: 0, timeoutMs: 300, maxConnectionAgeMs: 0 });
    await watchThroughRelay(address, h);
    relay.freeze();
    await new Promise((r) => setTimeout(r, 1500));
    expect(relay.conns[0]?.serverClosed).toBe(false);
    expect(h.router.subscriberCount).toBe(1);
  });

  it('with a maximum age the client moves to a new connection and no call fails', async () => {
    for (const maxConnectionAgeMs of [400, 0]) {
      const { relay, address } = await setup({ timeMs: 0, timeoutMs: 300, maxConnectionAgeMs });
      const admin = new AdminServiceClient(address, grpc.credentials.createInsecure());
      clients.push(admin);
      const upsert = () =>
        call(admin, admin.upsertQueue, { tenant: T, requestId: '', queue: chatQueue('billing') });
      await upsert();
      await new Promise((r) => setTimeout(r, 900));
      await upsert();
      expect(relay.conns.length).toBe(maxConnectionAgeMs > 0 ? 2 : 1);
      expect(relay.conns[0]?.serverClosed).toBe(maxConnectionAgeMs > 0);
      for (const c of clients.splice(0)) c.close();
      await relay.close();
      await h?.close();
      h = null;
    }
  });
});
