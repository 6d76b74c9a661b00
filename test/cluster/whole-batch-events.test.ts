/**
 * Cluster mode publishes a log batch's events as one stream message and a takeover re-derives whole
 * batches, so the host must never release a batch in two parts. Here the log acknowledges appends at
 * random moments, often before the worker has answered for every command of the batch (the apply calls
 * and the appends are cut independently), and every released batch must reach the event gatherer in one
 * piece: no log seq is emitted twice, and each emitted batch holds the events of all of its commands.
 */
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createEmbeddedPorts, type NodePorts } from '../../src/cluster/index.js';
import { EventBatchGatherer } from '../../src/cluster/nats/events.js';
import type { CommandLog } from '../../src/cluster/ports.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import type { Command, CommandEnvelope } from '../../src/engine/types.js';
import { PartitionHost } from '../../src/host/partition-host.js';
import { createWorkerPool } from '../../src/host/worker-pool.js';
import { tempDataDir } from '../runtime/harness.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** Delays every append's ack by 0–2 ms (acks stay in order, as JetStream's do). */
function jitteryLog(inner: CommandLog): CommandLog {
  let last: Promise<unknown> = Promise.resolve();
  return {
    append(partition, commands, expected) {
      const wait = new Promise((r) => setTimeout(r, Math.floor(Math.random() * 3)));
      const p = Promise.all([inner.append(partition, commands, expected), wait, last]).then(([seq]) => seq);
      last = p.catch(() => undefined);
      return p;
    },
    read: (p, after) => inner.read(p, after),
    lastSeq: (p) => inner.lastSeq(p),
    trim: (p, upto) => inner.trim(p, upto),
    close: () => inner.close(),
  };
}

describe('cluster mode releases a log batch whole', () => {
  it('every batch’s events reach the gatherer in one run, whatever the timing of acks and answers', async () => {
    const dir = await tempDataDir();
    dirs.push(dir);
    const embedded = await createEmbeddedPorts({ dataDir: dir, nodeId: 'n1', fsync: 'interval' });
    const ports: NodePorts = { ...embedded, mode: 'cluster', log: jitteryLog(embedded.log) };
    const pool = createWorkerPool({ kind: 'port', threads: 1 });
    const host = new PartitionHost({ ports, pool });
    try {
      await host.start();
      let n = 0;
      const send = (cmd: Command) => {
        const env: CommandEnvelope = { id: `c${++n}`, at: Date.now(), cmd };
        return host.submit('acme', env);
      };
      await send({ type: 'upsert_queue', queue: queueConfig('chat') });
      for (let i = 1; i <= 20; i++) {
        await send({ type: 'upsert_agent', agent: agentConfig(`agent-${i}`) });
        await send({ type: 'set_presence', agentId: `agent-${i}`, presence: 'online' });
      }
      const emitted: { seq: number; events: number }[] = [];
      const gather = new EventBatchGatherer('acme', (_t, seq, evs) =>
        emitted.push({ seq, events: evs.length }),
      );
      const perSeq = new Map<number, number>();
      const perType = new Map<string, number>();
      host.subscribe({ tenant: 'acme' }, (e) => {
        perSeq.set(e.seq, (perSeq.get(e.seq) ?? 0) + 1);
        perType.set(e.event.type, (perType.get(e.event.type) ?? 0) + 1);
        gather.add(e);
      });
      // Bursts of enqueues and ends over many event-loop turns: apply calls and appends cut differently.
      const calls: Promise<unknown>[] = [];
      for (let burst = 0; burst < 300; burst++) {
        for (let k = 0; k < 1 + (burst % 7); k++) {
          const id = `conv-${burst}-${k}`;
          calls.push(
            send({ type: 'enqueue', conversation: conversation(id, { queueId: 'chat' }) }).then(() =>
              send({ type: 'end_conversation', conversationId: id, outcome: 'resolved' }),
            ),
          );
        }
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all(calls);
      await Promise.resolve();
      // Events were published at all: each conversation was assigned and ended once (the enqueue and
      // the end answered only after their events were released).
      expect(emitted.length).toBeGreaterThan(0);
      expect(perType.get('assigned')).toBe(calls.length);
      expect(perType.get('conversation_ended')).toBe(calls.length);
      const published = [...perType.values()].reduce((x, y) => x + y, 0);
      expect(emitted.reduce((x, b) => x + b.events, 0)).toBe(published);
      const seqs = emitted.map((b) => b.seq);
      expect(new Set(seqs).size).toBe(seqs.length);
      for (const b of emitted) expect(b.events).toBe(perSeq.get(b.seq));
      // More than one command per batch on average, or the test would not exercise anything.
      expect(emitted.length).toBeLessThan(calls.length);
    } finally {
      await host.stop().catch(() => undefined);
      await pool.close();
      await embedded.close();
    }
  }, 30_000);
});
