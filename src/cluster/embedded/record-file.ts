/**
 * The framing shared by the embedded log files: one record per group-committed batch.
 *
 * ```
 * ┌──────────────┬──────────────┬─────────────────────────┐
 * │ u32 LE: len  │ u32 LE: crc  │ len bytes of UTF-8 JSON │   crc = CRC-32 of the JSON bytes
 * └──────────────┴──────────────┴─────────────────────────┘
 * ```
 *
 * A crash can leave a torn tail (a short header, a short body, or a body whose CRC does not match because
 * the page was only partly written). `scanRecords` stops at the first such record and reports where the
 * valid prefix ends, so the caller truncates there: everything before it was acknowledged only after a
 * complete write, everything after it never was.
 *
 * A length of 0 is never a record (the body is at least one byte of JSON): it marks the end of the data in a
 * file whose tail was preallocated with zeros. If only zeros follow, the file simply ends there; any
 * non-zero byte after it (a later record whose earlier neighbour never reached the disk) is a torn tail.
 */
import { crc32 } from 'node:zlib';

const HEADER = 8;
/** Guards against a garbage length field making us allocate gigabytes. */
const MAX_RECORD = 256 * 1024 * 1024;

/** Frames one JSON value as a record. */
export function encodeRecord(value: unknown): Buffer {
  return encodeJsonRecord(JSON.stringify(value));
}

/** Frames JSON text that is already serialised (e.g. by a worker thread) as a record. */
export function encodeJsonRecord(json: string): Buffer {
  // Encoded straight into the record (no intermediate body buffer and copy): one record per group
  // commit is built on the event loop. crc32 of a string is the CRC of its UTF-8 bytes.
  const len = Buffer.byteLength(json, 'utf8');
  const out = Buffer.allocUnsafe(HEADER + len);
  out.writeUInt32LE(len, 0);
  out.writeUInt32LE(crc32(json) >>> 0, 4);
  out.write(json, HEADER, len, 'utf8');
  return out;
}

export interface ScanResult<T> {
  records: T[];
  /** Byte offset where the valid prefix ends (= file length when nothing is torn). */
  validLength: number;
  /** Why the scan stopped early, if it did. */
  torn: string | null;
}

/** Decodes every complete, CRC-valid record from the start of `buf`. */
export function scanRecords<T>(buf: Buffer): ScanResult<T> {
  const records: T[] = [];
  let off = 0;
  while (off < buf.length) {
    if (allZero(buf, off)) return { records, validLength: off, torn: null };
    if (buf.length - off < HEADER) return { records, validLength: off, torn: 'short header' };
    const len = buf.readUInt32LE(off);
    if (len === 0) return { records, validLength: off, torn: 'data after a zero length' };
    const crc = buf.readUInt32LE(off + 4);
    if (len > MAX_RECORD) return { records, validLength: off, torn: 'implausible length' };
    if (buf.length - off - HEADER < len) return { records, validLength: off, torn: 'short body' };
    const body = buf.subarray(off + HEADER, off + HEADER + len);
    if (crc32(body) >>> 0 !== crc) return { records, validLength: off, torn: 'crc mismatch' };
    try {
      records.push(JSON.parse(body.toString('utf8')) as T);
    } catch {
      return { records, validLength: off, torn: 'unparseable body' };
    }
    off += HEADER + len;
  }
  return { records, validLength: off, torn: null };
}

/** The first bytes of a batch record's body (`encodeRecord({ seq, commands })`). */
const BATCH_START = Buffer.from('{"seq":');

/**
 * The highest seq among the complete, CRC-valid batch records found anywhere after `from` (null: none),
 * found by their first bytes. Only asked after a scan stopped early: records after the point where it
 * stopped tell a crash's torn tail (nothing, or only the appends that were in flight with the torn one)
 * from damage in the middle of the log (records written, and acknowledged, after it).
 */
export function laterBatchSeq(buf: Buffer, from: number): number | null {
  let best: number | null = null;
  for (let at = buf.indexOf(BATCH_START, from + HEADER); at >= 0; at = buf.indexOf(BATCH_START, at + 1)) {
    const head = at - HEADER;
    const len = buf.readUInt32LE(head);
    if (
      len === 0 ||
      len > buf.length - at ||
      crc32(buf.subarray(at, at + len)) >>> 0 !== buf.readUInt32LE(head + 4)
    )
      continue;
    try {
      const seq = (JSON.parse(buf.subarray(at, at + len).toString('utf8')) as { seq?: unknown }).seq;
      if (typeof seq === 'number' && (best === null || seq > best)) best = seq;
    } catch {
      // not a record after all
    }
  }
  return best;
}

/** Whether every byte of `buf` from `from` on is zero (a preallocated, never written tail). */
function allZero(buf: Buffer, from: number): boolean {
  // Cheap test first: a record header starts with a non-zero length in its first 4 bytes, mostly.
  if (buf.length - from >= 4 && buf.readUInt32LE(from) !== 0) return false;
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false;
  return true;
}

/** File-name-safe and reversible encoding of a partition id (tenant ids may hold dots, slashes, spaces). */
export function partitionFileName(partition: string): string {
  return encodeURIComponent(partition).replace(
    /[.*!'()~]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

export function partitionFromFileName(name: string): string {
  return decodeURIComponent(name);
}
