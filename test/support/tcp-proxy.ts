/**
 * A TCP proxy on a free loopback port in front of one upstream (a NATS server), for tests that cut one
 * node off the network while the others stay connected. `blackhole()` stops moving bytes both ways without
 * closing anything — the sockets stay open, writes pile up in the kernel's buffers, and neither end hears
 * of it (a partition on a real network, which TCP rides out by retransmitting); `heal()` lets everything
 * held flow again, in order and late.
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpProxy {
  /** `nats://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  blackhole(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(upstreamHost: string, upstreamPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let holding = false;
  const server: Server = createServer((down) => {
    const up = tcpConnect(upstreamPort, upstreamHost);
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    // Not pipe(): a piped source resumes itself whenever its destination drains, paused or not.
    down.on('data', (chunk) => up.write(chunk));
    up.on('data', (chunk) => down.write(chunk));
    if (holding) for (const s of pair) s.pause();
    const end = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `nats://127.0.0.1:${port}`,
    blackhole() {
      holding = true;
      // Paused sockets are not read: their kernel buffers fill, the sender's writes wait behind them.
      for (const pair of pairs) for (const s of pair) s.pause();
    },
    heal() {
      holding = false;
      for (const pair of pairs) for (const s of pair) s.resume();
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
