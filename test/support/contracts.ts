/**
 * The shared contract suites every `CommandLog` and `SnapshotStore` adapter must pass (embedded files,
 * JetStream, MongoDB). Call them from a test file with a factory that opens a store; each test uses its
 * own fresh tenant names, so one server/store can be shared by all tests.
 */
import { describe, expect, it } from 'vitest';
import type { CommandLog, LogBatch, SnapshotStore, StoredSnapshot } from '../../src/cluster/ports.js';
import type { CommandEnvelope } from '../../src/engine/types.js';

let n = 0;
const T0 = 1_700_000_000_000;

/** A command envelope with a fresh id (a tick unless a command is given). */
export function envelope(cmd: CommandEnvelope['cmd'] = { type: 'tick' }, at = T0 + n): CommandEnvelope {
  n += 1;
  return { id: `req-${process.pid}-${n}`, at, cmd };
}

/** A realistic enqueue envelope: nested records, optional fields, unicode. */
export function enqueueEnvelope(conversationId: string): CommandEnvelope {
  return envelope({
    type: 'enqueue',
    conversation: {
      id: conversationId,
      channel: 'chat',
      customer: { id: 'cust-Zoë', valueTier: 'high_value' },
      requiredSkills: [
        { skill: 'billing', minLevel: 3 },
        { skill: 'lang:fr', minLevel: 1 },
      ],
      queueId: 'chat-billing',
      priority: 5,
    },
  });
}

export async function collect(it: AsyncIterable<LogBatch>): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** A stored snapshot with a recognisable state. */
export function storedSnapshot(
  partition: string,
  seq: number,
  state: unknown = { agents: seq },
): StoredSnapshot {
  return {
    partition,
    seq,
    takenAt: T0 + seq,
    digest: `d${seq}`,
    snapshot: { version: 1, partition, state },
  };
}

function tenantNamer(name: string): () => string {
  let i = 0;
  const tag = name.replace(/\W/g, '');
  return () => `tenant-${tag}-${process.pid}-${Date.now()}-${++i}`;
}

/** Runs the CommandLog contract against logs opened by `factory`. */
export function commandLogContract(name: string, factory: () => Promise<CommandLog>): void {
  const tenant = tenantNamer(name);

  describe(`CommandLog contract: ${name}`, () => {
    it('a new tenant has an empty log', async () => {
      const log = await factory();
      const p = tenant();
      expect(await log.lastSeq(p)).toBe(0);
      expect(await collect(log.read(p, 0))).toEqual([]);
    });

    it('appended batches read back in order, exactly, with increasing seqs', async () => {
      const log = await factory();
      const p = tenant();
      const b1 = [enqueueEnvelope('conv-1'), envelope()];
      const b2 = [envelope({ type: 'cancel', conversationId: 'conv-1' })];
      const s1 = await log.append(p, b1, 0);
      const s2 = await log.append(p, b2, s1);
      expect(s1).toBeGreaterThan(0);
      expect(s2).toBeGreaterThan(s1);
      expect(await log.lastSeq(p)).toBe(s2);
      // Each batch names the one before it (0: the partition's first), the chain a loader checks.
      expect(await collect(log.read(p, 0))).toEqual([
        { seq: s1, prev: 0, commands: b1 },
        { seq: s2, prev: s1, commands: b2 },
      ]);
      expect(await collect(log.read(p, s1))).toEqual([{ seq: s2, prev: s1, commands: b2 }]);
      expect(await collect(log.read(p, s2))).toEqual([]);
    });

    it('a stale owner cannot append after a newer owner did (fencing), and writes nothing', async () => {
      const log = await factory();
      const p = tenant();
      const s1 = await log.append(p, [envelope()], 0);
      const s2 = await log.append(p, [envelope()], s1);
      await expect(log.append(p, [envelope()], s1)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
      await expect(log.append(p, [envelope()], 0)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
      expect(await log.lastSeq(p)).toBe(s2);
      expect((await collect(log.read(p, 0))).length).toBe(2);
    });

    it('of two owners racing from the same seq exactly one wins', async () => {
      const log = await factory();
      const p = tenant();
      const s1 = await log.append(p, [envelope()], 0);
      const results = await Promise.allSettled([
        log.append(p, [envelope()], s1),
        log.append(p, [envelope()], s1),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
    });

    it("one tenant's appends never fence another tenant", async () => {
      const log = await factory();
      const a = tenant();
      const b = tenant();
      const sa = await log.append(a, [envelope()], 0);
      await log.append(b, [envelope()], 0);
      expect(await log.append(a, [envelope()], sa)).toBeGreaterThan(sa);
      expect((await collect(log.read(b, 0))).length).toBe(1);
    });

    it('a tombstone (DeleteTenant) is no batch; remove then leaves an empty log that starts over, the tombstone gone last', async () => {
      const log = await factory();
      if (!log.tombstone || !log.remove || !log.tombstoned) return;
      const p = tenant();
      const other = tenant();
      await log.fence?.(p);
      const s1 = await log.append(p, [envelope()], 0);
      const s2 = await log.append(p, [envelope()], s1);
      await log.append(other, [envelope()], 0);
      expect(await log.tombstoned(p)).toBe(false);
      await log.tombstone(p);
      expect(await log.tombstoned(p)).toBe(true);
      expect((await collect(log.read(p, 0))).map((b) => b.seq)).toEqual([s1, s2]);
      if (log.tombstones) expect(await log.tombstones()).toContain(p);
      await log.remove(p);
      await log.remove(p); // idempotent
      expect(await log.tombstoned(p)).toBe(false);
      if (log.tombstones) expect(await log.tombstones()).not.toContain(p);
      expect(await log.lastSeq(p)).toBe(0);
      expect(await collect(log.read(p, 0))).toEqual([]);
      expect((await collect(log.read(other, 0))).length).toBe(1);
      await log.fence?.(p);
      const again = await log.append(p, [envelope()], 0);
      expect((await collect(log.read(p, 0))).map((b) => b.seq)).toEqual([again]);
    });

    it('a large group-committed batch of conversations round-trips', async () => {
      const log = await factory();
      const p = tenant();
      const batch = Array.from({ length: 500 }, (_, i) => enqueueEnvelope(`conv-${i}`));
      const s = await log.append(p, batch, 0);
      expect(await collect(log.read(p, 0))).toEqual([{ seq: s, prev: 0, commands: batch }]);
    });

    it('trim keeps every batch after the snapshot point, keeps lastSeq, and fencing still works', async () => {
      const log = await factory();
      const p = tenant();
      let last = 0;
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) {
        last = await log.append(p, [envelope()], last);
        seqs.push(last);
      }
      await log.trim(p, seqs[2] as number);
      expect((await collect(log.read(p, seqs[2] as number))).map((b) => b.seq)).toEqual(seqs.slice(3));
      // The batch after the trim point still names its predecessor, and whatever the log kept first does
      // not claim to be the partition's first: a reader without the snapshot sees the gap.
      expect((await collect(log.read(p, seqs[2] as number)))[0]?.prev).toBe(seqs[2]);
      const kept = (await collect(log.read(p, 0)))[0];
      expect(kept?.prev).toBeGreaterThan(0);
      expect(kept?.prev).toBe(seqs[seqs.indexOf(kept?.seq as number) - 1]);
      await log.trim(p, seqs[4] as number);
      expect(await log.lastSeq(p)).toBe(seqs[4]);
      expect(await collect(log.read(p, seqs[4] as number))).toEqual([]);
      await expect(log.append(p, [envelope()], seqs[3] as number)).rejects.toMatchObject({
        code: 'SB_ERR_NOT_OWNER',
      });
      const s6 = await log.append(p, [envelope()], last);
      expect((await collect(log.read(p, last))).map((b) => b.seq)).toEqual([s6]);
    });
  });
}

/**
 * A loaded snapshot as saved: a store may also give back the JSON text it kept (`snapshotJson`), which
 * must then be exactly the snapshot's.
 */
function asSaved(s: StoredSnapshot | null): StoredSnapshot | null {
  if (s === null) return null;
  const { snapshotJson, ...rest } = s;
  if (snapshotJson !== undefined) expect(JSON.parse(snapshotJson)).toEqual(s.snapshot);
  return { ...rest, snapshot: s.snapshot };
}

/**
 * Runs the SnapshotStore contract against stores opened by `factory`. `noAtomicWrites` names why the
 * server behind the store cannot make one conditional write atomic against a concurrent one (FerretDB
 * v1): the concurrency case is then skipped with that reason printed, not run to fail by chance.
 */
export function snapshotStoreContract(
  name: string,
  factory: () => Promise<SnapshotStore>,
  opts: { noAtomicWrites?: string } = {},
): void {
  const tenant = tenantNamer(name);
  if (opts.noAtomicWrites) {
    console.warn(`[${name}] 'concurrent saves settle on the newest' SKIPPED: ${opts.noAtomicWrites}`);
  }

  describe(`SnapshotStore contract: ${name}`, () => {
    it('a tenant without a snapshot loads null', async () => {
      const store = await factory();
      expect(await store.load(tenant())).toBeNull();
    });

    it('a saved snapshot loads back exactly, with its seq and digest', async () => {
      const store = await factory();
      const p = tenant();
      const s = storedSnapshot(p, 42, {
        queues: [{ id: 'chat-billing', waiting: ['conv-1', 'conv-2'] }],
        cursor: 3,
        names: ['Zoë', '李'],
      });
      await store.save(s);
      expect(asSaved(await store.load(p))).toEqual(s);
    });

    it('a snapshot handed over as pieces of text is stored as their concatenation, never read as an object', async () => {
      const store = await factory();
      const p = tenant();
      // Multi-byte characters (2, 3 and 4 bytes in UTF-8) throughout, and pieces of very different
      // sizes (the host's come one per serialised slice) cut at any byte, inside characters too: a
      // store must write them in order, across its own chunk or record boundaries, losing nothing.
      const names = Array.from({ length: 400 }, (_, i) => `Zoë-李-😀-${i}`);
      const whole = storedSnapshot(p, 42, { names, cursor: 3 });
      const text = Buffer.from(JSON.stringify(whole.snapshot), 'utf8');
      const pieces: Uint8Array[] = [];
      for (let at = 0, k = 0; at < text.length; k++) {
        const end = Math.min(text.length, at + 1 + ((k * 37) % 300));
        pieces.push(new Uint8Array(text.subarray(at, end)));
        at = end;
      }
      // An empty piece (a slice that produced no text), as the worker's TextEncoder gives it.
      pieces.splice(5, 0, new TextEncoder().encode(''));
      expect(pieces.length).toBeGreaterThan(20);
      await store.save({
        partition: p,
        seq: 42,
        takenAt: whole.takenAt,
        digest: whole.digest,
        snapshotChunks: pieces,
        get snapshot(): never {
          throw new Error('the store read the snapshot object instead of writing the pieces');
        },
      });
      expect(asSaved(await store.load(p))).toEqual(whole);
    });

    it("the tenant's incarnation and the events of the snapshot's batch round-trip (absent stays absent)", async () => {
      const store = await factory();
      const p = tenant();
      const plain = storedSnapshot(p, 5);
      await store.save(plain);
      const loaded = asSaved(await store.load(p));
      expect(loaded).toEqual(plain);
      expect(loaded).not.toHaveProperty('incarnation');
      // As the host hands them over: the text in pieces.
      const whole = { ...storedSnapshot(p, 6), incarnation: 1_765_119_891_234, lastBatchEvents: 3 };
      await store.save({
        partition: p,
        seq: 6,
        takenAt: whole.takenAt,
        digest: whole.digest,
        incarnation: whole.incarnation,
        lastBatchEvents: 3,
        snapshotChunks: [Buffer.from(JSON.stringify(whole.snapshot), 'utf8')],
        get snapshot(): never {
          throw new Error('the store read the snapshot object instead of writing the pieces');
        },
      });
      expect(asSaved(await store.load(p))).toEqual(whole);
      // And as an object.
      const obj = { ...storedSnapshot(p, 7), incarnation: 42, lastBatchEvents: 0 };
      await store.save(obj);
      expect(asSaved(await store.load(p))).toEqual(obj);
    });

    it('a newer snapshot replaces an older one, an older or equal one never replaces it', async () => {
      const store = await factory();
      const p = tenant();
      await store.save(storedSnapshot(p, 10));
      await store.save(storedSnapshot(p, 20));
      expect((await store.load(p))?.seq).toBe(20);
      await store.save(storedSnapshot(p, 15));
      expect((await store.load(p))?.seq).toBe(20);
      await store.save(storedSnapshot(p, 20, { other: true }));
      expect(asSaved(await store.load(p))).toEqual(storedSnapshot(p, 20));
    });

    it('storedSeq names the stored snapshot without loading it: 0 before any, the newest after', async () => {
      const store = await factory();
      const p = tenant();
      expect(await store.storedSeq(p)).toBe(0);
      await store.save(storedSnapshot(p, 10));
      expect(await store.storedSeq(p)).toBe(10);
      await store.save(storedSnapshot(p, 20));
      await store.save(storedSnapshot(p, 15));
      expect(await store.storedSeq(p)).toBe(20);
      expect(await store.storedSeq(tenant())).toBe(0);
    });

    it.skipIf(opts.noAtomicWrites !== undefined)('concurrent saves settle on the newest', async () => {
      const store = await factory();
      const p = tenant();
      await Promise.all([30, 10, 50, 40].map((seq) => store.save(storedSnapshot(p, seq))));
      expect((await store.load(p))?.seq).toBe(50);
    });

    it('remove (DeleteTenant) deletes the snapshot, idempotently; a later save starts afresh, at any seq', async () => {
      const store = await factory();
      if (!store.remove) return;
      const p = tenant();
      const other = tenant();
      await store.save(storedSnapshot(p, 30, { big: 'x'.repeat(5000) }));
      await store.save(storedSnapshot(other, 7));
      await store.remove(p);
      await store.remove(p);
      expect(await store.load(p)).toBeNull();
      expect(await store.storedSeq(p)).toBe(0);
      expect((await store.load(other))?.seq).toBe(7);
      await store.save(storedSnapshot(p, 2));
      expect(asSaved(await store.load(p))).toEqual(storedSnapshot(p, 2));
    });

    it('snapshots of different tenants are independent', async () => {
      const store = await factory();
      const a = tenant();
      const b = tenant();
      await store.save(storedSnapshot(a, 1));
      await store.save(storedSnapshot(b, 2));
      expect((await store.load(a))?.seq).toBe(1);
      expect((await store.load(b))?.seq).toBe(2);
    });
  });
}
