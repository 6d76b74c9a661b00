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

const scratch = new DataView(new ArrayBuffer(8));
/**
 * Token tags sit in a word's low 4 bits; small integers and short string lengths share their tag's word.
 * 1 null, 2 false, 3 true, 4 small int, 5 double, 6 short string, 7 array, 8 object, 9 object end,
 * 10 array end, 11 safe integer, 12 int32, 14 long string.
 */
const SMALL = 1 << 27;

/**
 * Streaming FNV-1a 64 (the arithmetic of `fnv1a64`, fed 32-bit words: one multiply per two UTF-16 units)
 * over a canonical token stream of a JSON-like value: every token starts with a type tag (`SMALL`), strings
 * carry their length, containers an end tag, so distinct values give distinct streams. It follows JSON's
 * reading of a value (undefined members are skipped, undefined array items and non-finite numbers are
 * null, −0 is 0), so a value and its JSON round trip, or its structured clone, hash alike — without ever
 * building the JSON string.
 */
export class Fnv1a64 {
  private h0 = 0x2325;
  private h1 = 0x8422;
  private h2 = 0x9ce4;
  private h3 = 0xcbf2;

  /** Feeds one 32-bit word (xor into the low half, then multiply by the FNV prime). */
  word(w: number): void {
    const h0 = this.h0 ^ (w & 0xffff);
    const h1 = this.h1 ^ (w >>> 16);
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3;
    const t2 = this.h2 * 0x1b3 + (h0 << 8);
    const t3 = this.h3 * 0x1b3 + (h1 << 8);
    const c1 = t1 + (t0 >>> 16);
    const c2 = t2 + (c1 >>> 16);
    this.h0 = t0 & 0xffff;
    this.h1 = c1 & 0xffff;
    this.h2 = c2 & 0xffff;
    this.h3 = (t3 + (c2 >>> 16)) & 0xffff;
  }

  string(s: string): void {
    const n = s.length;
    if (n < SMALL) this.word((n << 4) | 6);
    else {
      this.word(14);
      this.word(n);
    }
    let i = 0;
    for (; i + 1 < n; i += 2) this.word(s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16));
    if (i < n) this.word(s.charCodeAt(i));
  }

  number(n: number): void {
    if ((n | 0) === n) {
      if (n < SMALL && n >= -SMALL) this.word((n << 4) | 4);
      else {
        this.word(12);
        this.word(n);
      }
    } else if (Number.isSafeInteger(n)) {
      const lo = n >>> 0;
      this.word(11);
      this.word(lo);
      this.word((n - lo) / 4294967296);
    } else if (Number.isFinite(n)) {
      scratch.setFloat64(0, n, true);
      this.word(5);
      this.word(scratch.getUint32(0, true));
      this.word(scratch.getUint32(4, true));
    } else {
      this.word(1);
    }
  }

  /** Feeds a JSON-like value (plain objects, arrays, strings, numbers, booleans, null). */
  value(v: unknown): void {
    switch (typeof v) {
      case 'string':
        this.string(v);
        return;
      case 'number':
        this.number(v);
        return;
      case 'boolean':
        this.word(v ? 3 : 2);
        return;
      case 'object':
        break;
      default:
        this.word(1);
        return;
    }
    if (v === null) {
      this.word(1);
    } else if (Array.isArray(v)) {
      this.word(7);
      for (let i = 0; i < v.length; i++) this.value(v[i]);
      this.word(10);
    } else {
      this.word(8);
      const o = v as Record<string, unknown>;
      for (const k in o) {
        const x = o[k];
        if (x === undefined || typeof x === 'function') continue;
        this.string(k);
        this.value(x);
      }
      this.word(9);
    }
  }

  hex(): string {
    return (
      this.h3.toString(16).padStart(4, '0') +
      this.h2.toString(16).padStart(4, '0') +
      this.h1.toString(16).padStart(4, '0') +
      this.h0.toString(16).padStart(4, '0')
    );
  }
}

/** 64-bit FNV-1a digest of a JSON-like value, as 16 hex digits. */
export function digestValue(v: unknown): string {
  const h = new Fnv1a64();
  h.value(v);
  return h.hex();
}
