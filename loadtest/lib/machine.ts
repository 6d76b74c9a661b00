/** Where a result came from: machine, versions, commit and command line, stamped on every report. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the directory holding package.json), from source or from dist/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'loadtest'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
}

export interface MachineHeader {
  date: string;
  os: string;
  cpus: string;
  cpuCount: number;
  memoryGiB: number;
  node: string;
  packageVersion: string;
  gitCommit: string;
  commandLine: string;
}

export function machineHeader(): MachineHeader {
  const root = repoRoot();
  let gitCommit = 'unknown';
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    });
    if (dirty.trim() !== '') gitCommit += ' (modified)';
  } catch {
    // Not a git checkout (e.g. an unpacked tarball): the report says so.
  }
  let packageVersion = 'unknown';
  try {
    packageVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  } catch {}
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: cpus[0]?.model ?? 'unknown',
    cpuCount: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    packageVersion,
    gitCommit,
    commandLine: ['node', ...process.argv.slice(1).map((a, i) => (i === 0 ? a.replace(`${root}/`, '') : a))]
      .map((a) => (/[\s'"{}]/.test(a) ? `'${a.replace(/'/g, "'\\''")}'` : a))
      .join(' '),
  };
}
