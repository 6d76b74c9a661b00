/**
 * An event watcher whose client stops reading must not grow the node's memory: over SSE, as over gRPC,
 * it is cut off once its unsent bytes pass the limit (here lowered to 64 KiB; 8 MiB by default), told
 * why if it ever reads again, and its subscription is dropped.
 */
import { connect, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';
import { floodWatchers } from './support/engine-router.js';
import { type Harness, startHarness, TOKENS } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ watchBufferBytes: 64 * 1024 });
});
afterAll(async () => {
  await h.close();
});

async function overloaded(of: Harness = h): Promise<number> {
  const c = of.registry.getSingleMetric('switchboard_errors_total') as Counter<'method' | 'code'> | undefined;
  const { values } = (await c?.get()) ?? { values: [] };
  return (
    values.find((v) => v.labels.method === 'watchEvents' && v.labels.code === 'SB_ERR_OVERLOADED')?.value ?? 0
  );
}

describe('a WatchEvents client that stops reading (SSE)', () => {
  it('is cut off past the buffer limit and its subscription dropped', async () => {
    const socket: Socket = connect(h.httpPort, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `GET /v1/tenants/acme/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${TOKENS.acme}\r\n\r\n`,
    );
    await new Promise((r) => socket.once('data', r)); // the headers and ': watching'
    socket.pause(); // and never reads again
    expect(h.router.subscriberCount).toBe(1);
    const before = await overloaded();
    // ~500-byte events until the node gives up on the reader (the kernel's socket buffers fill first).
    const sent = await floodWatchers(h.router, 'acme', 200_000, 500);
    console.log(
      `[slow-watcher] cut off after ${sent} events (~${Math.round((sent * 500) / 1024 / 1024)} MB offered)`,
    );
    expect(h.router.subscriberCount).toBe(0);
    expect(await overloaded()).toBe(before + 1);
    socket.destroy();
  });
});

describe('a WatchEvents client that stops reading (gRPC)', () => {
  // Above HTTP/2's flow-control window (64 KiB per stream), so a client that reads is never cut while
  // its window updates are on their way; 8 MiB by default.
  let g: Harness;
  beforeAll(async () => {
    g = await startHarness({ watchBufferBytes: 1024 * 1024 });
  });
  afterAll(async () => {
    await g.close();
  });
  const note = 'x'.repeat(400);
  /**
   * ~820-byte events in small bursts (20 per millisecond), until `stop` or `max`; held back while
   * `behind(sent)` says the reading client has not caught up.
   */
  async function offer(
    stop: () => boolean,
    max: number,
    behind?: (sent: number) => boolean,
  ): Promise<number> {
    let sent = 0;
    while (!stop() && sent < max) {
      if (behind?.(sent)) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      for (let i = 0; i < 20; i++, sent++) {
        g.router.emit('acme', {
          type: 'alert',
          alert: 'queue_over_capacity',
          queueId: note,
          agentId: note,
          value: 1,
        });
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    return sent;
  }
  function watch(): {
    stream: grpc.ClientReadableStream<unknown>;
    errors: grpc.ServiceError[];
    received: () => number;
  } {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${TOKENS.acme}`);
    const stream = g.events.watchEvents({ tenant: 'acme', requestId: '', types: [] }, md);
    const errors: grpc.ServiceError[] = [];
    let n = 0;
    stream.on('error', (e: grpc.ServiceError) => errors.push(e));
    stream.on('data', () => n++);
    return { stream, errors, received: () => n };
  }

  it('a client that reads keeps its stream under the same flow of events', async () => {
    const w = watch();
    await new Promise((r) => w.stream.once('metadata', r));
    // The client shares this process, so on a starved machine it reads no faster than the node writes
    // and fell 1 MiB behind (cut off at 2 530 of 3 000 events: 'the watcher reads too slowly'): the
    // flow waits for it while it is more than 512 events (~410 KiB) behind. A node that never counted
    // the written bytes off would still cut it, after 1 MiB (~1 280 events).
    const sent = await offer(
      () => g.router.subscriberCount === 0,
      3000,
      (n) => n - w.received() >= 512,
    );
    expect(sent).toBe(3000);
    await waitFor(() => w.received() === sent, { what: 'the reading client to receive every event' });
    expect(g.router.subscriberCount).toBe(1);
    expect(w.errors).toEqual([]);
    w.stream.cancel();
    await waitFor(() => g.router.subscriberCount === 0, { what: 'the cancelled watch to unsubscribe' });
  });

  it('one that stops reading is cut off past the limit in bytes, and its subscription dropped at once', async () => {
    const w = watch();
    await new Promise((r) => w.stream.once('metadata', r)); // subscribed
    w.stream.pause(); // and never reads again: HTTP/2 flow control holds the node's writes back
    expect(g.router.subscriberCount).toBe(1);
    const before = await overloaded(g);
    // grpc-js counts its stream's buffer in messages (object mode): against that count the limit was
    // never reached here, and the unsent events grew the heap by ~450 B each.
    const sent = await offer(() => g.router.subscriberCount === 0, 40_000);
    console.log(
      `[slow-watcher] gRPC cut off after ${sent} events (~${Math.round((sent * 820) / 1024)} KiB offered)`,
    );
    expect(g.router.subscriberCount).toBe(0);
    expect(await overloaded(g)).toBe(before + 1);
    // Told why once it reads again.
    w.stream.resume();
    await waitFor(() => w.errors.length > 0, { what: 'the cut-off status to reach the client' });
    expect(w.errors[0]?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    w.stream.cancel();
  });
});
