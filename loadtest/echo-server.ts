/**
 * A bare grpc-js unary echo server: the transport's floor the router is judged against
 * (`npm run loadtest:grpc -- --compare-echo`). No protobuf decoding, no work: it answers each request
 * with as many bytes as the request's first four bytes ask for (big-endian), so the echo client can
 * mirror the router's request and response sizes exactly.
 *
 *   node dist/loadtest/echo-server.js [--port 0] [--host 127.0.0.1] [--tls-cert F --tls-key F] [--trace F]
 *     [--work-us N]
 *
 * `--work-us N` (diagnostic) spends N µs of CPU on the event loop in every call before answering: an echo
 * that costs its loop as much per call as a server with real work, to see what that alone does to the tail.
 */

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { CallTrace } from '../src/api/call-trace.js';

/** The echo method, with pass-through (Buffer) serialisation on both sides. */
export const echoService = {
  echo: {
    path: '/switchboard.loadtest.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
} satisfies grpc.ServiceDefinition;

/** Where a load client may write the iteration number into a payload (decimal digits), for `--trace`. */
export const ECHO_ITER_AT = 4;
export const ECHO_ITER_WIDTH = 10;

/** The iteration number written at `ECHO_ITER_AT`, as text ('' when the filler is still there). */
function iterationOf(b: Buffer): string {
  if (b.length < ECHO_ITER_AT + ECHO_ITER_WIDTH) return '';
  const s = b.toString('latin1', ECHO_ITER_AT, ECHO_ITER_AT + ECHO_ITER_WIDTH);
  return /^[0-9]+$/.test(s) ? s : '';
}

/** A request payload of `requestBytes` bytes asking for a `replyBytes`-byte answer. */
export function echoPayload(requestBytes: number, replyBytes: number): Buffer {
  const b = Buffer.alloc(Math.max(4, requestBytes), 0x5a);
  b.writeUInt32BE(replyBytes, 0);
  return b;
}

const replies = new Map<number, Buffer>();

function main(): void {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      // TLS, like a node started with --tls-cert/--tls-key (so `loadtest:grpc --tls` compares like with like).
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      // When each call reached the handler (it answers at once), written at SIGTERM, for
      // `loadtest:grpc --trace-calls` (see src/api/call-trace.ts).
      trace: { type: 'string' },
      'work-us': { type: 'string', default: '0' },
    },
  });
  const workNs = BigInt(Math.round(Number(values['work-us']) * 1000));
  const trace = values.trace ? new CallTrace(values.trace) : undefined;
  const creds =
    values['tls-cert'] && values['tls-key']
      ? grpc.ServerCredentials.createSsl(null, [
          { cert_chain: readFileSync(values['tls-cert']), private_key: readFileSync(values['tls-key']) },
        ])
      : grpc.ServerCredentials.createInsecure();
  const server = new grpc.Server();
  server.addService(echoService, {
    echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      if (trace) {
        const now = trace.now();
        trace.record(iterationOf(call.request), now, now);
      }
      if (workNs > 0n) {
        const until = process.hrtime.bigint() + workNs;
        while (process.hrtime.bigint() < until);
      }
      const n = call.request.length >= 4 ? call.request.readUInt32BE(0) : 0;
      let reply = replies.get(n);
      if (!reply) {
        reply = Buffer.alloc(n, 0xa5);
        replies.set(n, reply);
      }
      cb(null, reply);
    },
  });
  server.bindAsync(`${values.host}:${values.port}`, creds, (err, port) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    console.log(JSON.stringify({ msg: 'listening', grpcPort: port }));
  });
  process.on('SIGTERM', () =>
    server.tryShutdown(() => {
      trace?.write();
      process.exit(0);
    }),
  );
}

if (process.argv[1]?.endsWith('echo-server.js')) main();
