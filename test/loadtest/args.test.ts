import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ArgsError, helpText, parseScriptArgs } from '../../loadtest/lib/args.js';

const spec = {
  usage: 'npm run x -- [options]',
  options: {
    rate: { type: 'number', default: 500, min: 1, help: 'per second' },
    rounds: { type: 'int', default: 6, min: 1, max: 100, help: 'rounds' },
    ttl: { type: 'int', min: 1000, help: 'optional, no default' },
    snapshots: { type: 'string', default: 'auto', choices: ['auto', 'mongo'], help: 'store\nsecond line' },
    echo: { type: 'boolean', help: 'compare' },
  },
} as const;

function bad(argv: string[]): string {
  try {
    parseScriptArgs(spec, argv);
  } catch (e) {
    expect(e).toBeInstanceOf(ArgsError);
    return (e as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
}

describe('load script options (loadtest/lib/args.ts)', () => {
  it('gives defaults, typed values, both --x v and --x=v forms', () => {
    expect(parseScriptArgs(spec, [])).toEqual({
      positionals: [],
      rate: 500,
      rounds: 6,
      ttl: undefined,
      snapshots: 'auto',
      echo: false,
    });
    expect(
      parseScriptArgs(spec, [
        '--rate',
        '2000.5',
        '--rounds=3',
        '--ttl',
        '1500',
        '--snapshots',
        'mongo',
        '--echo',
      ]),
    ).toEqual({
      positionals: [],
      rate: 2000.5,
      rounds: 3,
      ttl: 1500,
      snapshots: 'mongo',
      echo: true,
    });
  });

  it('names the option and the value it refuses', () => {
    expect(bad(['--rate', '2k'])).toBe('--rate must be a number ≥ 1 (got "2k")');
    expect(bad(['--rate', '0'])).toBe('--rate must be a number ≥ 1 (got "0")');
    expect(bad(['--rounds', '2.5'])).toBe('--rounds must be an integer from 1 to 100 (got "2.5")');
    expect(bad(['--rounds', ''])).toBe('--rounds must be an integer from 1 to 100 (got "")');
    expect(bad(['--snapshots', 'mongodb'])).toBe('--snapshots must be auto, mongo (got "mongodb")');
    expect(bad(['--ratee', '5'])).toMatch(/Unknown option '--ratee'/);
    expect(bad(['extra'])).toMatch(/Unexpected argument 'extra'/);
    expect(bad(['--rate'])).toMatch(/--rate/);
  });

  it('--help lists every option with its default', () => {
    expect(parseScriptArgs(spec, ['--help'])).toBe('help');
    expect(parseScriptArgs(spec, ['-h'])).toBe('help');
    const text = helpText(spec);
    expect(text.split('\n')[0]).toBe('usage: npm run x -- [options]');
    for (const line of [
      '--rate X',
      'per second (default 500)',
      '--rounds N',
      '--ttl N',
      '--snapshots auto|mongo',
      '--echo',
      '--help, -h',
    ]) {
      expect(text).toContain(line);
    }
    // A second help line is indented under the first one's column.
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('store'));
    expect(lines[i + 1]?.trim()).toBe('second line (default auto)');
    expect(lines[i + 1]?.indexOf('second')).toBe(lines[i]?.indexOf('store'));
  });

  const chaos = join(import.meta.dirname, '../../dist/loadtest/chaos.js');
  if (!existsSync(chaos))
    console.warn(`[args] the script check is SKIPPED: ${chaos} missing (npm test builds it)`);
  it.skipIf(!existsSync(chaos))(
    'a script refuses a bad value before starting anything (exit 2, stderr names it)',
    async () => {
      const err = await promisify(execFile)(process.execPath, [chaos, '--snapshots', 'mongodb']).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(err?.code).toBe(2);
      expect(err?.stderr).toContain('--snapshots must be auto, mongo, jetstream (got "mongodb")');
      // A fault timed after the run's end would leave its checks with nothing to check.
      const late = await promisify(execFile)(process.execPath, [
        chaos,
        '--seconds',
        '15',
        '--freeze-at',
        '20',
      ]).then(
        () => null,
        (e: { code: number; stderr: string }) => e,
      );
      expect(late?.code).toBe(2);
      expect(late?.stderr).toContain('--freeze-at 20 is not inside the run (--seconds 15)');
      const help = await promisify(execFile)(process.execPath, [chaos, '--help']);
      expect(help.stdout).toContain('--kill-at X');
      expect(help.stdout).toContain('--freeze-ms N');
    },
  );
});
