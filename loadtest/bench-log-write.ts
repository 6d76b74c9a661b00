/**
 * `node dist/loadtest/bench-log-write.js [dir] [writes] [bytes]`: what one O_DSYNC record write costs on
 * the disk under `dir` (default: the OS temp dir; pass the node's data dir to test its file system), for
 * the three ways the embedded log could place it:
 *
 * - `append`:    O_APPEND at the end of the file (every write changes the size: a journal commit on ext4)
 * - `zeroed`:    a positional write into space already written with zeros (what the log does)
 * - `fallocate`: a positional write into `fallocate`d space (unwritten extents: converting them on the
 *                first write is a metadata change again)
 *
 * Rounds alternate the three so the machine's noise hits all of them. Last line: one JSON object.
 */
import { execFileSync } from 'node:child_process';
import { constants as c, closeSync, fsyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = process.argv[2] ?? tmpdir();
const N = Number(process.argv[3] ?? 2000);
const rec = Buffer.alloc(Number(process.argv[4] ?? 400), 65);
const span = N * rec.length + (1 << 20);

type Way = { name: string; open(path: string): number; write(fd: number, at: number): void };

const ways: Way[] = [
  {
    name: 'append',
    open: (p) => openSync(p, c.O_WRONLY | c.O_CREAT | c.O_APPEND | c.O_DSYNC),
    write: (fd) => writeSync(fd, rec),
  },
  {
    name: 'zeroed',
    open: (p) => {
      const fd = openSync(p, c.O_RDWR | c.O_CREAT);
      writeSync(fd, Buffer.alloc(span), 0, span, 0);
      fsyncSync(fd);
      closeSync(fd);
      return openSync(p, c.O_WRONLY | c.O_DSYNC);
    },
    write: (fd, at) => writeSync(fd, rec, 0, rec.length, at),
  },
  {
    name: 'fallocate',
    open: (p) => {
      closeSync(openSync(p, c.O_RDWR | c.O_CREAT));
      execFileSync('fallocate', ['-l', String(span), p]);
      const fd = openSync(p, c.O_RDWR);
      fsyncSync(fd);
      closeSync(fd);
      return openSync(p, c.O_WRONLY | c.O_DSYNC);
    },
    write: (fd, at) => writeSync(fd, rec, 0, rec.length, at),
  },
];

const samples = new Map<string, number[]>(ways.map((w) => [w.name, []]));
for (let round = 0; round < 3; round++) {
  for (const w of round % 2 === 0 ? ways : [...ways].reverse()) {
    const path = join(dir, `sb-bench-log-write-${process.pid}-${w.name}`);
    try {
      const fd = w.open(path);
      const out = samples.get(w.name) as number[];
      for (let i = 0; i < N; i++) {
        const t0 = process.hrtime.bigint();
        w.write(fd, i * rec.length);
        out.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
      closeSync(fd);
    } catch (e) {
      process.stderr.write(`${w.name}: ${(e as Error).message}\n`);
    } finally {
      try {
        unlinkSync(path);
      } catch {
        // never created
      }
    }
  }
}
const pct = (a: number[], p: number) => Math.round(a[Math.min(a.length - 1, Math.floor(a.length * p))] ?? 0);
const rows = [...samples].map(([name, a]) => {
  a.sort((x, y) => x - y);
  return { way: name, writes: a.length, p50_us: pct(a, 0.5), p90_us: pct(a, 0.9), p99_us: pct(a, 0.99) };
});
for (const r of rows)
  console.log(`${r.way.padEnd(10)} p50 ${r.p50_us} µs  p90 ${r.p90_us} µs  p99 ${r.p99_us} µs`);
console.log(JSON.stringify({ bench: 'log-write', dir, bytes: rec.length, rows }));
