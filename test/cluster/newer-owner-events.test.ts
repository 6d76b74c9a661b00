/**
 * In a rolling upgrade a tenant's owner may run a newer build than a node serving a `WatchEvents` stream
 * of it: the newer owner's events reach this node on core NATS (`sb.evt.<tenant>`) and are encoded here
 * for the gateway. An enum value this build does not know (a presence, an outcome, a strategy added
 * later) used to make the encoder throw inside the NATS subscription callback, which closes the node's
 * NATS connection ("reader closed"): every lease, forwarded call and watcher of the node with it.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventToProto } from '../../src/api/to-proto.js';
import { type EventBatch, eventBatchSubject, subscribeClusterEvents } from '../../src/cluster/nats/events.js';
import { Presence } from '../../src/gen/switchboard/v1/common.js';
import { Event } from '../../src/gen/switchboard/v1/events.js';
import { natsForTest } from '../support/nats-server.js';
import { waitFor } from '../support/wait-for.js';

let nats: Awaited<ReturnType<typeof natsForTest>>;
const conns: NatsConnection[] = [];

beforeAll(async () => {
  nats = await natsForTest('newer-owner-events');
});
afterAll(async () => {
  for (const c of conns) await c.close().catch(() => {});
  await nats?.cleanup();
});

describe('events from an owner on a newer build', () => {
  it('an enum value this build does not know reaches the watcher as UNSPECIFIED and the node keeps its NATS connection', async () => {
    const prefix = `sbt${process.pid}.evt`;
    const tenant = 'acme';
    const node = await connect({ servers: nats.urls });
    const newerOwner = await connect({ servers: nats.urls });
    conns.push(node, newerOwner);
    const sent: Event[] = [];
    // What the gRPC WatchEvents handler does with each event (grpc-server.ts), minus the socket.
    const off = subscribeClusterEvents(
      node,
      { tenant },
      (e) => sent.push(Event.decode(Event.encode(eventToProto(e)).finish())),
      prefix,
    );
    await node.flush();
    const at = 1_767_600_000_000;
    const batch = (seq: number, presence: string): EventBatch => ({
      tenant,
      seq,
      events: [
        { at, event: { type: 'presence_changed', agentId: 'a1', presence, reason: 'agent' } as never },
      ],
    });
    newerOwner.publish(eventBatchSubject(tenant, prefix), JSON.stringify(batch(7, 'training')));
    newerOwner.publish(eventBatchSubject(tenant, prefix), JSON.stringify(batch(8, 'online')));
    await newerOwner.flush();
    await waitFor(() => sent.length === 2 || node.isClosed(), {
      what: 'both events, or the connection lost',
    });
    off();
    expect(node.isClosed()).toBe(false);
    expect(sent.map((e) => [Number(e.seq), e.presenceChanged?.presence])).toEqual([
      [7, Presence.PRESENCE_UNSPECIFIED],
      [8, Presence.PRESENCE_ONLINE],
    ]);
  });
});
