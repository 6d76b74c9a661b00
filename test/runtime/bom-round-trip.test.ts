/**
 * Text that begins with U+FEFF is text, not a byte order mark. A default `TextDecoder` drops a leading
 * U+FEFF (`ignoreBOM: false`): that merged tenant ids '\ufeff' and '' as NATS subject tokens
 * (`subjects.ts`). Ids at the API are ASCII (`ID_RE`), but names and display names are free text and
 * cross the HTTP mirror, gRPC, the command log, snapshots and (cluster) NATS messages.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../../src/cluster/nats/command-log.js';
import { queueConfig } from '../../src/engine/fixtures.js';
import { UpsertQueueRequest } from '../../src/gen/switchboard/v1/admin.js';
import { startInProcessNode } from '../support/in-process-node.js';
import { REPO_ROOT } from '../support/node-process.js';
import { hostsOfThisFile, retryWhileUnavailable, tempDataDir } from './harness.js';

const start = hostsOfThisFile();
const NAME = '\ufeffBilling \ufeff';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return n === 'gen' ? [] : sources(p);
    return n.endsWith('.ts') && !n.endsWith('.test.ts') ? [p] : [];
  });
}

describe('text beginning with U+FEFF', () => {
  it('no TextDecoder in src/ or workers/ drops it: each is made with ignoreBOM', () => {
    const found: string[] = [];
    for (const file of [...sources(join(REPO_ROOT, 'src')), ...sources(join(REPO_ROOT, 'workers'))]) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new TextDecoder\(([^)]*)\)/g)) {
        if (!/ignoreBOM:\s*true/.test(m[1] ?? '')) found.push(`${relative(REPO_ROOT, file)}: ${m[0]}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('a queue name round-trips through the gRPC codec and the cluster command log codec', () => {
    const req = UpsertQueueRequest.decode(
      UpsertQueueRequest.encode(UpsertQueueRequest.fromPartial({ queue: { id: 'q1', name: NAME } })).finish(),
    );
    expect(req.queue?.name).toBe(NAME);
    const env = {
      id: 'c1',
      at: 1,
      cmd: { type: 'upsert_queue' as const, queue: queueConfig('q1', { name: NAME }) },
    };
    const back = decodeBatch(encodeBatch([env]))[0]?.cmd;
    expect(back?.type === 'upsert_queue' ? back.queue.name : null).toBe(NAME);
  });

  it('a queue name round-trips through the command log, a snapshot and a restart (embedded)', async () => {
    const dir = await tempDataDir();
    const names = async (h: Awaited<ReturnType<typeof start>>) => {
      const r = await retryWhileUnavailable(() => h.host.query('acme', { type: 'list_queues' }));
      return r.type === 'list_queues' ? r.queues.map((q) => q.name) : [];
    };
    const first = await start({ dir, fsync: 'always' });
    await first.send('acme', { type: 'upsert_queue', queue: queueConfig('q1', { name: NAME }) });
    await first.crash();
    const replayed = await start({ dir, fsync: 'always' });
    expect(await names(replayed)).toEqual([NAME]);
    await replayed.stop(); // a final snapshot
    const restored = await start({ dir, fsync: 'always' });
    expect(await names(restored)).toEqual([NAME]);
  });

  it('a queue name round-trips through the HTTP mirror', async () => {
    const n = await startInProcessNode({ natsUrl: '', nodeId: 'bom' });
    try {
      const put = await n.http(
        'PUT',
        '/v1/tenants/acme/queues/q1',
        {
          id: 'q1',
          name: NAME,
          channel: 'CHANNEL_CHAT',
          strategy: 'STRATEGY_LONGEST_IDLE',
          serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
        },
        5000,
      );
      expect(put.status).toBe(200);
      const got = await n.http('GET', '/v1/tenants/acme/queues/q1', undefined, 5000);
      expect(JSON.stringify(got.body)).toContain(JSON.stringify(NAME).slice(1, -1));
    } finally {
      await n.stop();
    }
  });
});
