/**
 * The SnapshotStore contract for the cluster adapter, kept here until the shared
 * `test/support/contracts.ts` lands.
 */
import { describe, expect, it } from 'vitest';
import type { SnapshotStore, StoredSnapshot } from '../../src/cluster/ports.js';

let n = 0;
export function snap(partition: string, seq: number, state: unknown = { agents: seq }): StoredSnapshot {
  return {
    partition,
    seq,
    takenAt: 1_700_000_000_000 + seq,
    digest: `d${seq}`,
    snapshot: { version: 1, partition, state },
  };
}

export function clusterSnapshotStoreContract(name: string, factory: () => Promise<SnapshotStore>): void {
  const partition = () => `tenant-${Date.now()}-${++n}`;
  describe(`SnapshotStore contract: ${name}`, () => {
    it('a tenant without a snapshot loads null', async () => {
      const store = await factory();
      expect(await store.load(partition())).toBeNull();
    });

    it('a saved snapshot loads back exactly, with its seq and digest', async () => {
      const store = await factory();
      const p = partition();
      const s = snap(p, 42, { queues: [{ id: 'billing', waiting: ['c1', 'c2'] }], cursor: 3 });
      await store.save(s);
      expect(await store.load(p)).toEqual(s);
    });

    it('a newer snapshot replaces an older one, an older one never replaces a newer one', async () => {
      const store = await factory();
      const p = partition();
      await store.save(snap(p, 10));
      await store.save(snap(p, 20));
      expect((await store.load(p))?.seq).toBe(20);
      await store.save(snap(p, 15));
      expect((await store.load(p))?.seq).toBe(20);
      await store.save(snap(p, 20, { other: true }));
      expect(await store.load(p)).toEqual(snap(p, 20));
    });

    it('snapshots of different tenants are independent', async () => {
      const store = await factory();
      const a = partition();
      const b = partition();
      await store.save(snap(a, 1));
      await store.save(snap(b, 2));
      expect((await store.load(a))?.seq).toBe(1);
      expect((await store.load(b))?.seq).toBe(2);
    });
  });
}
