/**
 * `node dist/loadtest/bench-cluster-log.js` — cost of the JetStream command log on this machine:
 * the batch codec (JSON) per batch size, and append latency (publish with `expect.lastSubjectSequence`
 * and `Nats-Msg-Id`, awaited ack) with `sync_interval: always` vs the server default (2 min), file
 * storage, R1. Starts its own nats-server processes. Prints one JSON line per measurement.
 */
import { connect } from '@nats-io/transport-node';
import { decodeBatch, encodeBatch, JetStreamCommandLog } from '../src/cluster/nats/command-log.js';
import type { CommandEnvelope } from '../src/engine/types.js';
import { startNatsServer } from '../test/support/nats-server.js';

let n = 0;
function enqueue(): CommandEnvelope {
  n++;
  return {
    id: `req-${n}`,
    at: 1_767_600_000_000 + n,
    cmd: {
      type: 'enqueue',
      conversation: {
        id: `conv-${n}`,
        channel: 'chat',
        customer: { id: `cust-${n % 5000}`, valueTier: 'standard' },
        requiredSkills: [{ skill: 'billing', minLevel: 3 }],
        queueId: 'chat-billing',
        priority: 5,
      },
    },
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number);
}

function codec(size: number, rounds: number): void {
  const batch = Array.from({ length: size }, enqueue);
  const enc: number[] = [];
  const dec: number[] = [];
  let bytes = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = process.hrtime.bigint();
    const data = encodeBatch(batch);
    const t1 = process.hrtime.bigint();
    decodeBatch(data);
    const t2 = process.hrtime.bigint();
    bytes = data.length;
    enc.push(Number(t1 - t0) / 1000);
    dec.push(Number(t2 - t1) / 1000);
  }
  console.log(
    JSON.stringify({
      bench: 'codec_json',
      batch: size,
      bytes,
      encode_p50_us: pct(enc, 50),
      encode_p99_us: pct(enc, 99),
      decode_p50_us: pct(dec, 50),
      decode_p99_us: pct(dec, 99),
    }),
  );
}

async function appends(syncInterval: string, size: number, count: number): Promise<void> {
  const server = await startNatsServer({ syncInterval });
  const nc = await connect({ servers: server.url });
  try {
    const log = await JetStreamCommandLog.open(nc, { storage: 'file', replicas: 1 });
    const lat: number[] = [];
    let last = 0;
    for (let i = 0; i < count + 50; i++) {
      const batch = Array.from({ length: size }, enqueue);
      const t0 = process.hrtime.bigint();
      last = await log.append('bench-tenant', batch, last);
      if (i >= 50) lat.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    console.log(
      JSON.stringify({
        bench: 'append',
        sync_interval: syncInterval,
        batch: size,
        appends: count,
        p50_us: pct(lat, 50),
        p99_us: pct(lat, 99),
        p999_us: pct(lat, 99.9),
      }),
    );
  } finally {
    await nc.close();
    await server.cleanup();
  }
}

async function main(): Promise<void> {
  for (const size of [1, 16, 128, 1024]) codec(size, size >= 1024 ? 300 : 3000);
  for (const sync of ['always', '2m']) {
    for (const size of [1, 16, 128]) await appends(sync, size, 2000);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
