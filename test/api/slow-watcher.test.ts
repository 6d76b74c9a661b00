/**
 * An event watcher whose client stops reading must not grow the node's memory: over SSE, as over gRPC,
 * it is cut off once its unsent bytes pass the limit (here lowered to 64 KiB; 8 MiB by default), told
 * why if it ever reads again, and its subscription is dropped.
 */
import { connect, type Socket } from 'node:net';
import type { Counter } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, TOKENS } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ watchBufferBytes: 64 * 1024 });
});
afterAll(async () => {
  await h.close();
});

async function overloaded(): Promise<number> {
  const c = h.registry.getSingleMetric('switchboard_errors_total') as Counter<'method' | 'code'> | undefined;
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
    const note = 'x'.repeat(400);
    let sent = 0;
    while (h.router.subscriberCount > 0 && sent < 200_000) {
      for (let i = 0; i < 500; i++, sent++) {
        h.router.emit('acme', {
          type: 'alert',
          alert: 'queue_over_capacity',
          queueId: note,
          agentId: note,
          value: 1,
        });
      }
      await new Promise((r) => setImmediate(r));
    }
    console.log(
      `[slow-watcher] cut off after ${sent} events (~${Math.round((sent * 500) / 1024 / 1024)} MB offered)`,
    );
    expect(h.router.subscriberCount).toBe(0);
    expect(await overloaded()).toBe(before + 1);
    socket.destroy();
  });
});
