/**
 * FNV-1a 64-bit over UTF-16 code units, in two 32-bit halves with `Math.imul` (no BigInt in the loop).
 * Not cryptographic: it detects divergence between replicas and replays, it does not resist forgery.
 * Offset basis 0xcbf29ce484222325, prime 0x100000001b3 (http://www.isthe.com/chongo/tech/comp/fnv/).
 */
export function fnv1a64(s: string): string {
  let h0 = 0x2325; // bits 0..15
  let h1 = 0x8422; // bits 16..31
  let h2 = 0x9ce4; // bits 32..47
  let h3 = 0xcbf2; // bits 48..63
  for (let i = 0; i < s.length; i++) {
    h0 ^= s.charCodeAt(i);
    // h * 0x100000001b3 = h * 0x1b3 + (h << 40), in 16-bit limbs.
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3;
    const t2 = h2 * 0x1b3 + (h0 << 8);
    const t3 = h3 * 0x1b3 + (h1 << 8);
    const c1 = t1 + (t0 >>> 16);
    const c2 = t2 + (c1 >>> 16);
    h0 = t0 & 0xffff;
    h1 = c1 & 0xffff;
    h2 = c2 & 0xffff;
    h3 = (t3 + (c2 >>> 16)) & 0xffff;
  }
  return (
    h3.toString(16).padStart(4, '0') +
    h2.toString(16).padStart(4, '0') +
    h1.toString(16).padStart(4, '0') +
    h0.toString(16).padStart(4, '0')
  );
}
