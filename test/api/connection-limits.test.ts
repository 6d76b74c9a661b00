/**
 * What a client may hold on either port before it sends a request or a token (security review): HTTP/2
 * streams per gRPC connection, gRPC streams that send headers and never their message, idle connections
 * on both ports, HTTP requests whose headers trickle in, and the number of open HTTP connections.
 * Before, one connection held 200 000 message-less streams (1 GiB of the node's memory) and ~23 000 idle
 * HTTP sockets used up the process's file descriptors; none of them was ever closed.
 */
import http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ListQueuesRequest } from '../../src/gen/switchboard/v1/admin.js';
import { WatchEventsRequest } from '../../src/gen/switchboard/v1/events.js';
import { waitFor } from '../support/wait-for.js';
import { bearer, call, type Harness, startHarness, TOKENS } from './support/harness.js';

let h: Harness | null = null;
const sockets: Socket[] = [];
const sessions: http2.ClientHttp2Session[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  await h?.close();
  h = null;
});

/** A raw TCP connection that records when the server closes it. */
function rawSocket(port: number, first?: string): { socket: Socket; closed: () => boolean } {
  const socket = connect(port, '127.0.0.1');
  let closed = false;
  socket.on('error', () => {});
  socket.on('close', () => {
    closed = true;
  });
  socket.on('data', () => {});
  if (first !== undefined) socket.write(first);
  sockets.push(socket);
  return { socket, closed: () => closed };
}

async function h2session(port: number): Promise<http2.ClientHttp2Session> {
  const s = http2.connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  sessions.push(s);
  await new Promise((r) => s.once('remoteSettings', r));
  return s;
}

describe('gRPC port', () => {
  it('advertises its streams limit per connection', async () => {
    h = await startHarness({ limits: { grpc: { maxConcurrentStreams: 150 } } });
    const s = await h2session(h.grpcPort);
    expect(s.remoteSettings.maxConcurrentStreams).toBe(150);
  });

  it('ends a call whose request message does not arrive (DEADLINE_EXCEEDED, sb-error-code), and resets its stream', async () => {
    h = await startHarness({ limits: { grpc: { requestMessageTimeoutMs: 300 } } });
    const s = await h2session(h.grpcPort);
    const stream = s.request(
      {
        ':method': 'POST',
        ':path': '/switchboard.v1.GatewayService/Enqueue',
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      { endStream: false },
    );
    let headers: http2.IncomingHttpHeaders = {};
    stream.on('response', (hd) => {
      headers = hd;
    });
    stream.on('error', () => {});
    let closed = false;
    stream.on('close', () => {
      closed = true;
    });
    // The client never ends its half: without the server's reset the stream would stay open.
    await waitFor(() => closed, { what: 'the server to end the stream', timeoutMs: 5_000 });
    expect(headers['grpc-status']).toBe('4');
    expect(headers['sb-error-code']).toBe('SB_ERR_DEADLINE_EXCEEDED');
  });

  it('still answers calls whose message arrives, and is not cut by the timeout afterwards', async () => {
    h = await startHarness({ limits: { grpc: { requestMessageTimeoutMs: 300 } } });
    const r = await call(h.admin, h.admin.listQueues, ListQueuesRequest.fromPartial({ tenant: 'acme' }));
    expect(r.queues).toEqual([]);
    // A watcher outlives the timeout: its message arrived.
    const w = h.events.watchEvents(WatchEventsRequest.fromPartial({ tenant: 'acme' }), bearer(TOKENS.acme));
    let ended = false;
    w.on('error', () => {
      ended = true;
    });
    w.on('end', () => {
      ended = true;
    });
    await new Promise((r) => setTimeout(r, 800));
    expect(ended).toBe(false);
    w.cancel();
  });

  it('closes a connection that has no call for the idle time, also one that never sent a byte', async () => {
    h = await startHarness({ limits: { grpc: { maxConnectionIdleMs: 500 } } });
    const silent = rawSocket(h.grpcPort);
    const s = await h2session(h.grpcPort);
    let goaway = false;
    s.on('goaway', () => {
      goaway = true;
    });
    await waitFor(() => goaway && s.closed !== undefined, {
      what: 'GOAWAY on the idle session',
      timeoutMs: 5_000,
    });
    await waitFor(() => silent.closed(), { what: 'the silent connection to close', timeoutMs: 5_000 });
  });
});

describe('HTTP port', () => {
  it('closes a connection that never sends a request, and one whose headers trickle in', async () => {
    h = await startHarness({ limits: { http: { headersTimeoutMs: 300, idleTimeoutMs: 600 } } });
    const silent = rawSocket(h.httpPort);
    const trickle = rawSocket(h.httpPort, 'GET /healthz HTTP/1.1\r\nX-a: ');
    const timer = setInterval(() => trickle.socket.write('a'), 100);
    try {
      await waitFor(() => silent.closed() && trickle.closed(), {
        what: 'both sockets to be closed by the server',
        timeoutMs: 5_000,
      });
    } finally {
      clearInterval(timer);
    }
  });

  it('closes connections past the limit as soon as they are accepted', async () => {
    h = await startHarness({ limits: { http: { maxConnections: 3 } } });
    const held = [rawSocket(h.httpPort), rawSocket(h.httpPort), rawSocket(h.httpPort)];
    await waitFor(() => held.every((s) => s.socket.readyState === 'open'), { what: 'three connections' });
    // Give the server time to count them (accepted asynchronously).
    await new Promise((r) => setTimeout(r, 100));
    const extra = rawSocket(h.httpPort, 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n');
    await waitFor(() => extra.closed(), { what: 'the fourth connection to be closed', timeoutMs: 5_000 });
    expect(held.some((s) => s.closed())).toBe(false);
    for (const s of held) s.socket.destroy();
    // Below the limit again: served (a connection refused meanwhile can leave a fetch hanging: bounded).
    const port = h.httpPort;
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1_000) })).status ===
        200,
      { what: '/healthz once connections were freed' },
    );
  });

  it('reads no more than the body limit of a request it refuses unread (no route), then closes', async () => {
    h = await startHarness({ maxMessageBytes: 64 * 1024 });
    // Chunked, so no length announces it: the node must count what it drains.
    const upload = rawSocket(
      h.httpPort,
      'POST /nope HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n',
    );
    const chunk = `${(64 * 1024).toString(16)}\r\n${'x'.repeat(64 * 1024)}\r\n`;
    let sent = 0;
    while (!upload.closed() && sent < 64 * 1024 * 1024) {
      if (!upload.socket.write(chunk)) await new Promise((r) => setTimeout(r, 5));
      sent += 64 * 1024;
      if (sent % (1024 * 1024) === 0) await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => upload.closed(), { what: 'the server to close the upload', timeoutMs: 10_000 });
    // (Its answer is sent, but a client still writing gets the connection reset before reading it.)
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    // One announcing its length is answered before its body, and closed.
    const declared = rawSocket(
      h.httpPort,
      'PUT /nope HTTP/1.1\r\nhost: x\r\ncontent-length: 200000000\r\n\r\n',
    );
    let answer = '';
    declared.socket.on('data', (d: Buffer) => {
      answer += d.toString();
    });
    await waitFor(() => declared.closed(), { what: 'the declared upload to be closed', timeoutMs: 5_000 });
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(answer).toMatch(/^connection: close$/im);
  });
});
