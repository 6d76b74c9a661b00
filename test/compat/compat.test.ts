/**
 * Version compatibility, proved on every build: each corpus under `test/compat/<date>/` (written by an
 * earlier build through its real storage adapters, see `corpus.ts`) must still be read by this build to
 * the same state and the same answers — the embedded data directory by a real node started on a copy of
 * it, the cluster's payloads by the decoders the adapters use. And this build must still write what the
 * newest corpus's build read (the rollback direction, and both directions of a rolling upgrade).
 *
 * A new corpus (only when a format changed on purpose, README.md here):
 *   SB_COMPAT_NEW=$(date -u +%F) npx vitest run test/compat
 */

import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionFileName } from '../../src/cluster/embedded/record-file.js';
import { encodeBatch } from '../../src/cluster/nats/command-log.js';
import { defaultConfig } from '../../src/config/index.js';
import type { EngineSnapshot, Query } from '../../src/engine/api.js';
import { restoreEngine } from '../../src/engine/index.js';
import type { CommandEnvelope } from '../../src/engine/types.js';
import { startNode } from '../../src/node.js';
import { COMPAT_ROOT, type CorpusManifest, corpusNames, readJson } from './corpus.js';
import {
  bsonDocuments,
  commandBatches,
  eventLine,
  jetStreamSnapshot,
  kvSummary,
  messages,
  mongoSnapshot,
  rpcSummary,
  storedEvents,
} from './read-corpus.js';
import { writeCorpus, writeEmbedded } from './write-corpus.js';

/**
 * Corpora whose final digest a later build reaches differently on purpose: a deliberate change of a
 * routing decision re-decides the log tail after the snapshot (README.md: "Decisions changed on purpose").
 */
const REDECIDED = join(COMPAT_ROOT, 'redecided.json');

let names: string[] = [];
const temps: string[] = [];

beforeAll(async () => {
  const fresh = process.env.SB_COMPAT_NEW;
  if (fresh) console.warn(`compatibility corpus written: ${await writeCorpus(fresh)}`);
  names = corpusNames(readdirSync(COMPAT_ROOT));
}, 120_000);

afterAll(async () => {
  for (const t of temps) await rm(t, { recursive: true, force: true });
});

async function tempDir(label: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), `sb-compat-${label}-`));
  temps.push(d);
  return d;
}

/** A real embedded node on `dataDir`, its clock stopped at `at`; its log lines kept. */
async function nodeOn(dataDir: string, at: number) {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as Record<string, unknown>);
      },
    },
  );
  const config = defaultConfig({
    host: '127.0.0.1',
    grpcPort: 0,
    httpPort: 0,
    dataDir,
    workers: 1,
    maxLoopLagMs: 0,
    nodeId: 'compat',
  });
  const node = await startNode(config, { logger, clock: { now: () => at } });
  return { node, lines };
}

const roundTrip = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function expectedDigest(m: CorpusManifest): string {
  if (!existsSync(REDECIDED)) return m.digest;
  const r = readJson<Record<string, { digest: string }>>(REDECIDED)[m.corpus];
  return r?.digest ?? m.digest;
}

describe('the compatibility corpora', () => {
  it('there is at least one corpus, each with its manifest', () => {
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(existsSync(join(COMPAT_ROOT, n, 'manifest.json'))).toBe(true);
  });
});

// Discovered at collection time (beforeAll has not run yet): a corpus written in this run is read by
// the next one.
for (const name of corpusNames(readdirSync(COMPAT_ROOT))) {
  const dir = join(COMPAT_ROOT, name);
  const manifest = readJson<CorpusManifest>(join(dir, 'manifest.json'));
  const tenant = manifest.partition;

  describe(`corpus ${name} (written by ${manifest.writtenBy.version} ${manifest.writtenBy.commit})`, () => {
    it('a node started on a copy of its embedded data directory recovers the day: snapshot + log tail reach the same digest', async () => {
      const data = await tempDir('embedded');
      await cp(join(dir, 'embedded'), data, { recursive: true });
      const { node, lines } = await nodeOn(data, manifest.lastAt);
      try {
        const recovered = lines.find((l) => l.msg === 'partition recovered' && l.tenant === tenant);
        expect(recovered, 'no "partition recovered" line for the corpus tenant').toBeDefined();
        expect(recovered?.snapshotSeq).toBe(manifest.snapshot.seq);
        // Every command after the snapshot replayed (the JetStream log kept the same ones, after its own).
        const after = commandBatches(messages(dir, 'jetstream/commands.msgs')).slice(1);
        expect(recovered?.replayed).toBe(after.reduce((n, b) => n + b.commands.length, 0));
        expect(await node.router.query(tenant, { type: 'digest' })).toEqual({
          type: 'digest',
          digest: expectedDigest(manifest),
        });
      } finally {
        await node.stop();
      }
    });

    it('a node started on its snapshot alone gives every recorded answer', async () => {
      const data = await tempDir('snapshot');
      await cp(join(dir, 'embedded', 'snapshots'), join(data, 'snapshots'), { recursive: true });
      const answers = readJson<[Query, unknown][]>(join(dir, 'answers.json'));
      const { node } = await nodeOn(data, manifest.snapshot.at);
      try {
        for (const [q, a] of answers) {
          expect(roundTrip(await node.router.query(tenant, q)), JSON.stringify(q)).toEqual(a);
        }
        expect(answers.find(([q]) => q.type === 'digest')?.[1]).toEqual({
          type: 'digest',
          digest: manifest.snapshot.digest,
        });
      } finally {
        await node.stop();
      }
    });

    it('its JetStream snapshot and the log kept after it (trimmed there) decode, chained, and replay to the final digest', () => {
      const expected = readJson<{ snapshotSeq: number }>(join(dir, 'expected.json'));
      const snap = jetStreamSnapshot(messages(dir, 'jetstream/snapshots.msgs'), tenant);
      expect(snap.seq).toBe(expected.snapshotSeq);
      expect(snap.digest).toBe(manifest.snapshot.digest);
      const engine = restoreEngine(snap.snapshot);
      expect(engine.digest()).toBe(manifest.snapshot.digest);
      const batches = commandBatches(messages(dir, 'jetstream/commands.msgs'));
      // The trim keeps the snapshot's own batch, so the subject is never empty (fencing).
      expect(batches[0]?.seq).toBe(snap.seq);
      expect(batches).toHaveLength(manifest.batches - manifest.snapshot.seq + 1);
      // Each batch names the one before it (the chain a loader checks against its snapshot).
      for (let i = 1; i < batches.length; i++) expect(batches[i]?.prev).toBe(batches[i - 1]?.seq);
      for (const b of batches) if (b.seq > snap.seq) for (const e of b.commands) engine.apply(e);
      expect(engine.digest()).toBe(expectedDigest(manifest));
    });

    it.runIf(existsSync(join(dir, 'mongo')))(
      'its MongoDB snapshot documents (chunked and inline) decode and restore to its digest',
      () => {
        const expected = readJson<{ snapshotSeq: number }>(join(dir, 'expected.json'));
        for (const layout of ['chunked', 'inline']) {
          const snap = mongoSnapshot(join(dir, 'mongo', layout), tenant);
          expect(snap.seq, layout).toBe(expected.snapshotSeq);
          expect(snap.digest, layout).toBe(manifest.snapshot.digest);
          expect(restoreEngine(snap.snapshot).digest(), layout).toBe(manifest.snapshot.digest);
        }
        expect(bsonDocuments(join(dir, 'mongo', 'chunked', 'snapshot_chunks.bson')).length).toBeGreaterThan(
          1,
        );
      },
    );

    it('its event messages decode to the recorded events, each one a watcher can be sent', async () => {
      const { eventToProto } = await import('../../src/api/to-proto.js');
      const { Event } = await import('../../src/gen/switchboard/v1/events.js');
      const expected = readJson<{ events: unknown[] }>(join(dir, 'expected.json'));
      const events = storedEvents(messages(dir, 'jetstream/events.msgs'));
      expect(events.map((e) => eventLine(e.seq, e.index ?? 0, e.at, e.event.type))).toEqual(expected.events);
      for (const e of events) {
        expect(e.tenant).toBe(tenant);
        expect(Event.encode(eventToProto(e)).finish().length).toBeGreaterThan(0);
      }
    });

    it('its forwarded calls pass this build’s checks and its answers decode as they did', () => {
      const expected = readJson<{ rpc: unknown }>(join(dir, 'expected.json'));
      const s = rpcSummary(messages(dir, 'cluster/rpc.msgs'));
      expect(s).toEqual(expected.rpc);
      expect(s.refused.every((r) => r === null)).toBe(true);
    });

    it('its KV owner and node values decode as they did', () => {
      const expected = readJson<{ kv: unknown }>(join(dir, 'expected.json'));
      expect(kvSummary(messages(dir, 'cluster/kv.msgs'))).toEqual(expected.kv);
    });
  });
}

/**
 * The other direction: what this build writes, the newest corpus's build must read — during a rolling
 * upgrade (a partition handed from a new node to an old one) and after a rollback. Proved by writing
 * the same day through this build's adapters and getting the corpus's bytes: that build read exactly
 * those (its own test above). A difference means an older build may not read this one's files: add a
 * corpus and record in deploy/RUNBOOK.md ("Compatibility") that rolling back past it needs the older
 * build's snapshot (README.md here).
 */
describe('rollback: this build writes what the newest corpus’s build reads', () => {
  const newest = corpusNames(readdirSync(COMPAT_ROOT)).at(-1);
  it.runIf(newest !== undefined)(
    'embedded log and snapshot files are byte for byte the newest corpus’s',
    async () => {
      const dir = join(COMPAT_ROOT, newest as string);
      const manifest = readJson<CorpusManifest>(join(dir, 'manifest.json'));
      // The batches after the snapshot; those folded into it leave only the trim's base record (seq and
      // count matter, not content), so any stand-ins do for them.
      const kept = commandBatches(messages(dir, 'jetstream/commands.msgs')).map((b) => b.commands);
      const tail = kept.slice(1);
      const batches = [...Array.from({ length: manifest.snapshot.seq }, () => tail[0] ?? []), ...tail];
      // The snapshot through this build's reader and writer (format, not decisions: those may change).
      const snapFile = join(dir, 'embedded', 'snapshots', `${partitionFileName(manifest.partition)}.snap`);
      const stored = JSON.parse((await readFile(snapFile)).subarray(8).toString('utf8')) as {
        snapshot: EngineSnapshot;
      };
      const again = JSON.stringify(restoreEngine(stored.snapshot).snapshot());
      const data = await tempDir('rewrite');
      await writeEmbedded(
        data,
        {
          batches,
          snapshotAfter: manifest.snapshot.seq,
          snapshotDigest: manifest.snapshot.digest,
          snapshotAt: manifest.snapshot.at,
        },
        again,
        'interval',
      );
      for (const sub of ['log', 'snapshots']) {
        const theirs = readdirSync(join(dir, 'embedded', sub)).sort();
        expect(readdirSync(join(data, sub)).sort()).toEqual(theirs);
        for (const f of theirs) {
          const ours = await readFile(join(data, sub, f));
          const want = await readFile(join(dir, 'embedded', sub, f));
          if (!ours.equals(want)) {
            throw new Error(
              `this build writes ${sub}/${f} differently from corpus ${newest} (first difference at byte ${firstDiff(ours, want)}): ` +
                'an older build may not read it. If the format changed on purpose, add a corpus and record the rollback limit (test/compat/README.md)',
            );
          }
        }
      }
    },
  );

  it.runIf(newest !== undefined)('JetStream command-log message bodies are the newest corpus’s', () => {
    const dir = join(COMPAT_ROOT, newest as string);
    for (const m of messages(dir, 'jetstream/commands.msgs')) {
      if (m.subject.startsWith('sb.cmd.fence.')) continue;
      const commands = JSON.parse(Buffer.from(m.data).toString('utf8')) as CommandEnvelope[];
      expect(Buffer.from(encodeBatch(commands)).equals(Buffer.from(m.data)), `batch ${m.seq}`).toBe(true);
    }
  });
});

function firstDiff(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}
