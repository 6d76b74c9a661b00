// Determinism guard for src/engine: the linter forbids impure imports; this forbids impure globals.
// The engine gets time only from the command envelope and never draws random numbers, so replay,
// snapshot/restore and simulation give identical results.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const forbidden = [
  [/\bDate\.now\s*\(/, 'Date.now() — time comes from the command envelope (`at`)'],
  [/\bnew Date\s*\(\s*\)/, 'new Date() — time comes from the command envelope (`at`)'],
  [/\bperformance\.now\s*\(/, 'performance.now() — no clock in the engine'],
  [/\bMath\.random\s*\(/, 'Math.random() — the engine is deterministic'],
  [/\bcrypto\.(randomUUID|getRandomValues)\s*\(/, 'crypto randomness — the engine is deterministic'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'timers — timers fire on the tick command'],
  [/\bprocess\./, 'process — no environment in the engine'],
  [/\brequire\s*\(/, 'require — no dynamic imports in the engine'],
  [/\bimport\s*\(/, 'dynamic import — no I/O in the engine'],
];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (p.endsWith('.ts') && !p.endsWith('.test.ts')) yield p;
  }
}

let bad = 0;
for (const file of files('src/engine')) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    for (const [re, why] of forbidden) {
      if (re.test(code)) {
        console.error(`${file}:${i + 1}: ${why}`);
        bad++;
      }
    }
  });
}
if (bad > 0) {
  console.error(`engine purity: ${bad} violation(s)`);
  process.exit(1);
}
console.log('engine purity: ok');
