import { closeSync } from 'node:fs';
import {
  appendFile,
  copyFile,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acquireDataDirLock, FileCommandLog, FileSnapshotStore } from '../../src/cluster/embedded/index.js';
import { encodeRecord } from '../../src/cluster/embedded/record-file.js';
import { createEmbeddedPorts } from '../../src/cluster/index.js';
import { MAX_SNAPSHOT_TEXT_BYTES } from '../../src/cluster/ports.js';
import {
  collect,
  commandLogContract,
  enqueueEnvelope,
  envelope,
  snapshotStoreContract,
  storedSnapshot,
} from '../support/contracts.js';

const dirs: string[] = [];
const opened: { close(): Promise<void> }[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sb-embedded-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const o of opened) await o.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openLog(
  dir?: string,
  fsync: 'always' | 'interval' = 'always',
  writes: 'thread-pool' | 'main-thread' | 'auto' = 'thread-pool',
): Promise<FileCommandLog> {
  const log = new FileCommandLog({ dir: dir ?? (await tempDir()), fsync, fsyncIntervalMs: 20, writes });
  opened.push(log);
  return log;
}

commandLogContract('FileCommandLog (fsync always)', () => openLog());
commandLogContract('FileCommandLog (fsync interval)', () => openLog(undefined, 'interval'));
commandLogContract('FileCommandLog (fsync always, main-thread writes)', () =>
  openLog(undefined, 'always', 'main-thread'),
);
commandLogContract('FileCommandLog (fsync always, auto writes)', () => openLog(undefined, 'always', 'auto'));
snapshotStoreContract('FileSnapshotStore', async () => new FileSnapshotStore(await tempDir()));

describe('FileCommandLog on disk', () => {
  it('a reopened log has every acknowledged batch of every tenant', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    const s1 = await log.append('acme', [enqueueEnvelope('c1')], 0);
    await log.append('acme', [envelope()], s1);
    await log.append('globex.eu/support', [envelope()], 0);
    await log.close();
    const again = await openLog(dir);
    expect(await again.lastSeq('acme')).toBe(2);
    expect((await collect(again.read('acme', 0))).map((b) => b.seq)).toEqual([1, 2]);
    expect((await again.partitions()).sort()).toEqual(['acme', 'globex.eu/support']);
  });

  it('ids with multi-byte UTF-8 (accents, Cyrillic, emoji) pass the CRC check and come back unchanged after a reopen', async () => {
    // The record's length and CRC are taken from the JSON string, not from an encoded copy of it: a
    // character-count length or a CRC over UTF-16 code units would cut these records off as torn.
    const dir = await tempDir();
    const ids = ['cé-1', 'агент-2', '会話-3', 'chat-😀-4'];
    const torn: string[] = [];
    for (const writes of ['thread-pool', 'main-thread'] as const) {
      const log = await openLog(join(dir, writes), 'always', writes);
      let seq = 0;
      for (const id of ids) seq = await log.append('café', [enqueueEnvelope(id)], seq);
      await log.close();
      const again = new FileCommandLog({ dir: join(dir, writes), onTornTail: (i) => torn.push(i.reason) });
      opened.push(again);
      const batches = await collect(again.read('café', 0));
      const logged = batches.flatMap((b) =>
        b.commands.map((c) => (c.cmd.type === 'enqueue' ? c.cmd.conversation.id : c.cmd.type)),
      );
      expect(logged).toEqual(ids);
      expect(await again.append('café', [enqueueEnvelope('naïve-5')], seq)).toBe(ids.length + 1);
    }
    expect(torn).toEqual([]);
  });

  it('a failed record write rejects the append and every later one; the file is re-opened and the log goes on', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append('acme', [enqueueEnvelope('w1')], 0);
    // Pull the descriptor from under the open file: the next pool write fails with EBADF.
    const f = (log as unknown as { opened: Map<string, { fh: { fd: number } }> }).opened.get('acme');
    closeSync(f?.fh.fd as number);
    const failed = log.append('acme', [enqueueEnvelope('w2')], 1);
    const after = log.append('acme', [enqueueEnvelope('w3')], 2);
    await expect(failed).rejects.toThrow(/EBADF/);
    await expect(after).rejects.toThrow();
    // Re-opened from disk: only the acknowledged batch is there, and appends continue after it.
    expect(await log.lastSeq('acme')).toBe(1);
    expect(await log.append('acme', [enqueueEnvelope('w4')], 1)).toBe(2);
    const ids = (await collect(log.read('acme', 0))).flatMap((b) => b.commands.map((c) => c.id));
    expect(ids).toHaveLength(2);
  });

  it('a torn tail left by a crash mid-write is detected, cut off, and the log continues after it', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append('acme', [enqueueEnvelope('c1')], 0);
    await log.append('acme', [enqueueEnvelope('c2')], 1);
    await log.close();
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    const path = join(dir, file as string);
    const full = (await stat(path)).size;
    // The second record lost its last 5 bytes: the write was interrupted.
    await truncate(path, full - 5);
    const torn: string[] = [];
    const again = new FileCommandLog({ dir, onTornTail: (i) => torn.push(i.reason) });
    opened.push(again);
    expect(await again.lastSeq('acme')).toBe(1);
    expect(torn).toEqual(['short body']);
    expect(await again.append('acme', [enqueueEnvelope('c3')], 1)).toBe(2);
    const batches = await collect(again.read('acme', 0));
    expect(
      batches.map((b) => b.commands[0]?.cmd.type === 'enqueue' && b.commands[0].cmd.conversation.id),
    ).toEqual(['c1', 'c3']);
  });

  it('a half-written record whose bytes are garbage fails its CRC and is cut off', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append('acme', [envelope()], 0);
    await log.close();
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    const path = join(dir, file as string);
    const good = await readFile(path);
    // A complete-looking header for a 16-byte body whose content never made it to disk.
    const header = Buffer.alloc(8);
    header.writeUInt32LE(16, 0);
    header.writeUInt32LE(0xdeadbeef, 4);
    await appendFile(path, Buffer.concat([header, Buffer.alloc(16)]));
    const torn: string[] = [];
    const again = new FileCommandLog({ dir, onTornTail: (i) => torn.push(i.reason) });
    opened.push(again);
    expect(await again.lastSeq('acme')).toBe(1);
    expect(torn).toEqual(['crc mismatch']);
    expect((await stat(path)).size).toBe(good.length);
  });

  it('trims of a reopened log keep the later batches byte for byte, and the day goes on after them', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    let seq = 0;
    for (const c of ['c1', 'c2', 'c3', 'c4']) seq = await log.append('acme', [enqueueEnvelope(c)], seq);
    await log.close();
    // Reopened: the trim point is found from the scanned file, not from this object's own appends.
    const again = await openLog(dir);
    await again.trim('acme', 2);
    seq = await again.append('acme', [enqueueEnvelope('c5')], seq);
    await again.trim('acme', 3);
    seq = await again.append('acme', [enqueueEnvelope('c6')], seq);
    await again.close();
    const third = await openLog(dir);
    expect(await third.lastSeq('acme')).toBe(6);
    const batches = await collect(third.read('acme', 0));
    expect(batches.map((b) => b.seq)).toEqual([4, 5, 6]);
    expect(
      batches.map((b) => b.commands[0]?.cmd.type === 'enqueue' && b.commands[0].cmd.conversation.id),
    ).toEqual(['c4', 'c5', 'c6']);
  });

  it('conversations logged while a trim copies the file are all still there afterwards', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    let seq = 0;
    for (let i = 1; i <= 20; i++) seq = await log.append('acme', [enqueueEnvelope(`c${i}`)], seq);
    const trimming = log.trim('acme', 10);
    for (let i = 21; i <= 30; i++) seq = await log.append('acme', [enqueueEnvelope(`c${i}`)], seq);
    await trimming;
    seq = await log.append('acme', [enqueueEnvelope('c31')], seq);
    await log.close();
    const again = await openLog(dir);
    expect(await again.lastSeq('acme')).toBe(31);
    expect((await collect(again.read('acme', 0))).map((b) => b.seq)).toEqual(
      Array.from({ length: 21 }, (_, i) => i + 11),
    );
  });

  it.each(['thread-pool', 'auto'] as const)(
    'appends issued back to back are written together and acknowledged strictly in seq order (%s writes)',
    async (writes) => {
      const dir = await tempDir();
      const log = await openLog(dir, 'always', writes);
      const acked: number[] = [];
      const all = Array.from({ length: 12 }, (_, i) =>
        log.append('acme', [enqueueEnvelope(`p${i + 1}`)], i).then((seq) => {
          acked.push(seq);
          return seq;
        }),
      );
      expect(await Promise.all(all)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      expect(acked).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
      await log.close();
      const again = await openLog(dir);
      const batches = await collect(again.read('acme', 0));
      expect(
        batches.map((b) => b.commands[0]?.cmd.type === 'enqueue' && b.commands[0].cmd.conversation.id),
      ).toEqual(Array.from({ length: 12 }, (_, i) => `p${i + 1}`));
    },
  );

  it('a file left with its preallocated zeros (crash) reopens at its last record; a clean close cuts the zeros', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    let seq = 0;
    for (const c of ['c1', 'c2', 'c3']) seq = await log.append('acme', [enqueueEnvelope(c)], seq);
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    const data = [1, 2, 3].reduce(
      (n, i) => n + encodeRecord({ seq: i, commands: [enqueueEnvelope(`c${i}`)] }).length,
      0,
    );
    // Give the background extension time to land, then take the file as a crash would leave it.
    await new Promise((r) => setTimeout(r, 50));
    expect((await stat(join(dir, file as string))).size).toBeGreaterThan(data);
    const crashed = await tempDir();
    await copyFile(join(dir, file as string), join(crashed, file as string));
    const torn: string[] = [];
    const again = new FileCommandLog({ dir: crashed, onTornTail: (i) => torn.push(i.reason) });
    opened.push(again);
    expect(await again.lastSeq('acme')).toBe(3);
    expect(await again.append('acme', [enqueueEnvelope('c4')], 3)).toBe(4);
    await again.close();
    expect(torn).toEqual([]);
    const c4 = encodeRecord({ seq: 4, commands: [enqueueEnvelope('c4')] }).length;
    expect((await stat(join(crashed, file as string))).size).toBe(data + c4);
    const third = await openLog(crashed);
    expect((await collect(third.read('acme', 0))).map((b) => b.seq)).toEqual([1, 2, 3, 4]);
  });

  it('a record that landed after an earlier one that never did (pipelined writes, crash) is cut, never replayed', async () => {
    const dir = await tempDir();
    const rec = (seq: number, id: string) => encodeRecord({ seq, commands: [enqueueEnvelope(id)] });
    const lost = rec(3, 'c3');
    // seq 3's bytes never reached the disk (still zeros); seq 4's did.
    const file = Buffer.concat([
      rec(1, 'c1'),
      rec(2, 'c2'),
      Buffer.alloc(lost.length),
      rec(4, 'c4'),
      Buffer.alloc(4096),
    ]);
    await writeFile(join(dir, 'acme.log'), file);
    const torn: string[] = [];
    const log = new FileCommandLog({ dir, onTornTail: (i) => torn.push(i.reason) });
    opened.push(log);
    expect(await log.lastSeq('acme')).toBe(2);
    expect(torn).toEqual(['data after a zero length']);
    // The next write lands where seq 3 should have been; nothing stale can line up after it.
    expect(await log.append('acme', [enqueueEnvelope('c3-retry')], 2)).toBe(3);
    expect(await log.append('acme', [enqueueEnvelope('c5')], 3)).toBe(4);
    await log.close();
    const again = await openLog(dir);
    const batches = await collect(again.read('acme', 0));
    expect(
      batches.map((b) => b.commands[0]?.cmd.type === 'enqueue' && b.commands[0].cmd.conversation.id),
    ).toEqual(['c1', 'c2', 'c3-retry', 'c5']);
  });

  it('a trim interrupted before its rename leaves the original log intact', async () => {
    const dir = await tempDir();
    const log = await openLog(dir);
    await log.append('acme', [envelope()], 0);
    await log.close();
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.log'));
    await writeFile(join(dir, `${file}.trim`), 'partial');
    const again = await openLog(dir);
    expect(await again.lastSeq('acme')).toBe(1);
    expect((await readdir(dir)).filter((f) => f.endsWith('.trim'))).toEqual([]);
  });
});

describe('FileSnapshotStore on disk', () => {
  it('a snapshot survives a reopen and a damaged snapshot file is reported, not trusted', async () => {
    const dir = await tempDir();
    await new FileSnapshotStore(dir).save(storedSnapshot('acme', 7));
    expect((await new FileSnapshotStore(dir).load('acme'))?.seq).toBe(7);
    const [file] = await readdir(dir);
    const path = join(dir, file as string);
    const buf = await readFile(path);
    buf[buf.length - 2] = (buf[buf.length - 2] as number) ^ 0xff;
    await writeFile(path, buf);
    await expect(new FileSnapshotStore(dir).load('acme')).rejects.toThrow(/damaged/);
  });

  it('a snapshot handed over as JSON text (serialised by the worker) loads back as the same state', async () => {
    const dir = await tempDir();
    const s = storedSnapshot('acme', 9, { agents: ['a1', 'a2'], waiting: { q1: 3 } });
    const { snapshot, ...rest } = s;
    await new FileSnapshotStore(dir).save({
      ...rest,
      snapshotJson: JSON.stringify(snapshot),
      get snapshot(): never {
        throw new Error('the store must write the JSON text, not walk the state');
      },
    });
    const loaded = await new FileSnapshotStore(dir).load('acme');
    expect(loaded?.snapshotJson).toBe(JSON.stringify(snapshot));
    expect({ ...loaded, snapshotJson: undefined }).toEqual({ ...s, snapshotJson: undefined });
  });

  it('a load gives the state back as its text for the worker to parse, not parsed on the main thread', async () => {
    const dir = await tempDir();
    const names = Array.from({ length: 50 }, (_, i) => `Zoë-李-😀-${i}`);
    // Ids that look like the record's own keys must not cut the text short.
    const s = storedSnapshot('acme,"snapshot":{', 11, { names, tricky: ',"snapshot":', quote: '"}' });
    await new FileSnapshotStore(dir).save(s);
    const parse = JSON.parse;
    let parsedChars = 0;
    JSON.parse = ((text: string, ...rest: []) => {
      parsedChars += text.length;
      return parse(text, ...rest);
    }) as typeof JSON.parse;
    let loaded: Awaited<ReturnType<FileSnapshotStore['load']>>;
    try {
      loaded = await new FileSnapshotStore(dir).load('acme,"snapshot":{');
    } finally {
      JSON.parse = parse;
    }
    const text = JSON.stringify(s.snapshot);
    expect(loaded?.snapshotJson).toBe(text);
    // Only the record's head (partition, seq, takenAt, digest) was parsed.
    expect(parsedChars).toBeLessThan(200);
    expect(loaded).toMatchObject({ partition: s.partition, seq: 11, takenAt: s.takenAt, digest: s.digest });
    expect(loaded?.snapshot).toEqual(s.snapshot);
  });

  it('a file whose record is laid out otherwise (keys in another order) is still read, whole', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    const s = storedSnapshot('acme', 5);
    await store.save(s);
    const [file] = await readdir(dir);
    const { snapshot, ...head } = s;
    await writeFile(join(dir, file as string), encodeRecord({ snapshot, ...head }));
    const loaded = await new FileSnapshotStore(dir).load('acme');
    expect(loaded?.seq).toBe(5);
    expect(loaded?.snapshot).toEqual(s.snapshot);
  });

  it('a snapshot of more than 256 MiB of text loads back (the bound of log records is not a snapshot’s)', async () => {
    const dir = await tempDir();
    // 257 MiB of text from one 1 MiB buffer repeated: little memory for the pieces themselves.
    const mib = new Uint8Array(1024 * 1024).fill(0x78);
    const pieces = [Buffer.from('{"version":2,"partition":"big","state":{"pad":"'), ...Array(257).fill(mib)];
    pieces.push(Buffer.from('"}}'));
    const bytes = pieces.reduce((n, p) => n + p.length, 0);
    await new FileSnapshotStore(dir).save({
      partition: 'big',
      seq: 3,
      takenAt: 1,
      digest: 'd',
      snapshotChunks: pieces,
      get snapshot(): never {
        throw new Error('not read');
      },
    });
    const loaded = await new FileSnapshotStore(dir).load('big');
    expect(loaded?.seq).toBe(3);
    expect(loaded?.snapshotJson?.length).toBe(bytes);
    expect(loaded?.snapshotJson?.endsWith('xx"}}')).toBe(true);
  }, 60_000);

  it('a snapshot longer than a node can load back is refused by the save, and the stored one stays', async () => {
    const dir = await tempDir();
    const store = new FileSnapshotStore(dir);
    await store.save(storedSnapshot('big', 1));
    const mib = new Uint8Array(1024 * 1024).fill(0x78);
    const pieces = Array(Math.ceil(MAX_SNAPSHOT_TEXT_BYTES / mib.length) + 1).fill(mib);
    await expect(
      store.save({
        partition: 'big',
        seq: 2,
        takenAt: 1,
        digest: 'd',
        snapshotChunks: pieces,
        snapshot: null as never,
      }),
    ).rejects.toThrow(/more than a node can load back/);
    expect((await new FileSnapshotStore(dir).load('big'))?.seq).toBe(1);
    expect(await readdir(dir)).toEqual([expect.stringMatching(/\.snap$/)]);
  });
});

describe('embedded ports', () => {
  it('a second node cannot open a data directory that a live node is using', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), String(process.ppid));
    await expect(createEmbeddedPorts({ dataDir: dir, nodeId: 'n2' })).rejects.toThrow(/in use/);
  });

  it("a dead node's lock is taken over after a crash", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'LOCK'), '999999999');
    const release = await acquireDataDirLock(dir);
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8'))).toMatchObject({ pid: process.pid });
    await release();
  });
});
