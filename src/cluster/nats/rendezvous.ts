/**
 * Rendezvous (highest-random-weight) hashing: a partition goes to the live node with the highest
 * score(node, partition). When a node joins, only the partitions it now wins move to it (≈ 1/n of them);
 * when one leaves, only its own partitions move, each to its runner-up. No ring, no virtual nodes.
 * (Thaler & Ravishankar, "Using name-based mappings to increase hit rates", 1998.)
 */
import { createHash } from 'node:crypto';

/** 48-bit score from MD5 (not for security: only for an even, stable spread). */
export function score(nodeId: string, partition: string): number {
  const h = createHash('md5').update(nodeId).update('\0').update(partition).digest();
  return h.readUIntBE(0, 6);
}

/** The winning node for the partition, or null when there is none. Ties break by node id. */
export function rendezvousOwner(partition: string, nodes: Iterable<string>): string | null {
  let best: string | null = null;
  let bestScore = -1;
  for (const n of nodes) {
    const s = score(n, partition);
    if (s > bestScore || (s === bestScore && best !== null && n < best)) {
      best = n;
      bestScore = s;
    }
  }
  return best;
}
