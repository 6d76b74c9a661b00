/**
 * The CommandLog contract as the cluster adapters must honour it. Kept here until the shared
 * `test/support/contracts.ts` lands; the cluster tests then run both.
 */
import { describe, expect, it } from 'vitest';
import type { CommandLog, LogBatch } from '../../src/cluster/ports.js';
import type { CommandEnvelope } from '../../src/engine/types.js';

let n = 0;
/** A command envelope with a fresh id. */
export function env(at = 1_700_000_000_000): CommandEnvelope {
  n += 1;
  return { id: `req-${process.pid}-${n}`, at, cmd: { type: 'tick' } };
}

export async function collect(it: AsyncIterable<LogBatch>): Promise<LogBatch[]> {
  const out: LogBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

/** Runs the contract on a log from `factory`; every test uses its own partition names. */
export function clusterCommandLogContract(name: string, factory: () => Promise<CommandLog>): void {
  let seqPartition = 0;
  const partition = () => `tenant-${name.replace(/\W/g, '')}-${Date.now()}-${++seqPartition}`;

  describe(`CommandLog contract: ${name}`, () => {
    it('a new tenant has an empty log', async () => {
      const log = await factory();
      const p = partition();
      expect(await log.lastSeq(p)).toBe(0);
      expect(await collect(log.read(p, 0))).toEqual([]);
    });

    it('appended batches read back in order with increasing seqs', async () => {
      const log = await factory();
      const p = partition();
      const b1 = [env(), env()];
      const b2 = [env()];
      const s1 = await log.append(p, b1, 0);
      const s2 = await log.append(p, b2, s1);
      expect(s2).toBeGreaterThan(s1);
      expect(await log.lastSeq(p)).toBe(s2);
      expect(await collect(log.read(p, 0))).toEqual([
        { seq: s1, commands: b1 },
        { seq: s2, commands: b2 },
      ]);
      expect(await collect(log.read(p, s1))).toEqual([{ seq: s2, commands: b2 }]);
      expect(await collect(log.read(p, s2))).toEqual([]);
    });

    it('a stale owner cannot append after a newer owner did (fencing)', async () => {
      const log = await factory();
      const p = partition();
      const s1 = await log.append(p, [env()], 0);
      await log.append(p, [env()], s1); // the new owner
      await expect(log.append(p, [env()], s1)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
      await expect(log.append(p, [env()], 0)).rejects.toMatchObject({ code: 'SB_ERR_NOT_OWNER' });
    });

    it("one tenant's appends never fence another tenant", async () => {
      const log = await factory();
      const a = partition();
      const b = partition();
      const sa = await log.append(a, [env()], 0);
      const sb = await log.append(b, [env()], 0);
      expect(await log.append(a, [env()], sa)).toBeGreaterThan(sb);
    });

    it('trim keeps every batch after the snapshot and fencing still works', async () => {
      const log = await factory();
      const p = partition();
      let last = 0;
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) {
        last = await log.append(p, [env()], last);
        seqs.push(last);
      }
      await log.trim(p, seqs[4] as number);
      expect(await log.lastSeq(p)).toBe(seqs[4]);
      expect(await collect(log.read(p, seqs[4] as number))).toEqual([]);
      await expect(log.append(p, [env()], seqs[3] as number)).rejects.toMatchObject({
        code: 'SB_ERR_NOT_OWNER',
      });
      const s6 = await log.append(p, [env()], last);
      expect((await collect(log.read(p, last))).map((b) => b.seq)).toEqual([s6]);
    });
  });
}
