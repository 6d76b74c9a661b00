/**
 * Command-line options of the load scripts, declared once: the declaration gives `node:util`'s
 * `parseArgs` its option list, prints `--help`, and checks every value, so a typo (`--rate 2k`,
 * `--snapshots mongodb`, an unknown flag) ends the script at once with exit code 2 and a message naming
 * the option, instead of a run measuring `NaN` conversations per second.
 */
import { parseArgs } from 'node:util';

interface Described {
  /** One line (or several, joined with `\n`) for `--help`. */
  help: string;
  /** What the value looks like in `--help` (default: N for numbers, the choices, or VALUE). */
  value?: string;
}
export type NumberOption = Described & {
  type: 'int' | 'number';
  default?: number;
  min?: number;
  max?: number;
};
export type StringOption = Described & { type: 'string'; default?: string; choices?: readonly string[] };
export type BooleanOption = Described & { type: 'boolean' };
export type OptionSpec = NumberOption | StringOption | BooleanOption;

type ValueOf<O> = O extends BooleanOption
  ? boolean
  : O extends StringOption
    ? O extends { choices: readonly (infer C)[] }
      ? O extends { default: string }
        ? C
        : C | undefined
      : O extends { default: string }
        ? string
        : string | undefined
    : O extends { default: number }
      ? number
      : number | undefined;

export type ScriptArgs<S extends Record<string, OptionSpec>> = { [K in keyof S]: ValueOf<S[K]> } & {
  positionals: string[];
};

export interface ScriptSpec<S extends Record<string, OptionSpec>> {
  /** How the script is run, e.g. `npm run chaos -- [options]`. */
  usage: string;
  options: S;
  /** Positional arguments allowed (default none). */
  positionals?: boolean;
  /** More text printed after the options by `--help`. */
  epilog?: string;
}

/** Thrown for a bad command line; `runScriptArgs` turns it into a message and exit code 2. */
export class ArgsError extends Error {}

function placeholder(o: OptionSpec): string {
  if (o.value !== undefined) return o.value;
  if (o.type === 'boolean') return '';
  if (o.type === 'string') return o.choices ? o.choices.join('|') : 'VALUE';
  return o.type === 'int' ? 'N' : 'X';
}

/** The `--help` text: the usage line, then one entry per option with its default. */
export function helpText<S extends Record<string, OptionSpec>>(spec: ScriptSpec<S>): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const v = placeholder(o);
    const flag = `  --${name}${v ? ` ${v}` : ''}`;
    const dflt =
      'default' in o && o.default !== undefined && o.default !== '' ? ` (default ${o.default})` : '';
    return { flag, lines: `${o.help}${dflt}`.split('\n') };
  });
  const width = Math.min(32, Math.max(...rows.map((r) => r.flag.length)) + 2);
  const body = rows.flatMap(({ flag, lines }) => {
    const [first, ...rest] = lines;
    const head =
      flag.length + 2 > width ? [flag, `${' '.repeat(width)}${first}`] : [flag.padEnd(width) + first];
    return [...head, ...rest.map((l) => ' '.repeat(width) + l)];
  });
  return [
    `usage: ${spec.usage}`,
    ...body,
    `  --help, -h${' '.repeat(Math.max(2, width - 12))}this text`,
    ...(spec.epilog ? ['', spec.epilog] : []),
  ].join('\n');
}

function checkNumber(name: string, o: NumberOption, raw: string): number {
  const n = Number(raw);
  const what = o.type === 'int' ? 'an integer' : 'a number';
  const range =
    o.min !== undefined && o.max !== undefined
      ? ` from ${o.min} to ${o.max}`
      : o.min !== undefined
        ? ` ≥ ${o.min}`
        : o.max !== undefined
          ? ` ≤ ${o.max}`
          : '';
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(n) &&
    (o.type === 'number' || Number.isInteger(n)) &&
    (o.min === undefined || n >= o.min) &&
    (o.max === undefined || n <= o.max);
  if (!ok) throw new ArgsError(`--${name} must be ${what}${range} (got "${raw}")`);
  return n;
}

/** Parses and checks `argv` against the declaration; throws `ArgsError` for anything wrong. */
export function parseScriptArgs<S extends Record<string, OptionSpec>>(
  spec: ScriptSpec<S>,
  argv: string[],
): ScriptArgs<S> | 'help' {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: spec.positionals ?? false, strict: true });
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) return 'help';
  const out: Record<string, unknown> = { positionals: parsed.positionals };
  for (const [name, o] of Object.entries(spec.options)) {
    const raw = values[name];
    if (o.type === 'boolean') {
      out[name] = raw === true;
    } else if (o.type === 'string') {
      const v = (raw as string | undefined) ?? o.default;
      if (v !== undefined && o.choices && !o.choices.includes(v)) {
        throw new ArgsError(`--${name} must be ${o.choices.join(', ')} (got "${v}")`);
      }
      out[name] = v;
    } else {
      out[name] = raw === undefined ? o.default : checkNumber(name, o, raw as string);
    }
  }
  return out as ScriptArgs<S>;
}

/**
 * `parseScriptArgs` for a script's own command line: `--help` prints the text and exits 0, a bad
 * command line prints what is wrong and exits 2.
 */
export function scriptArgs<S extends Record<string, OptionSpec>>(
  spec: ScriptSpec<S>,
  argv: string[] = process.argv.slice(2),
): ScriptArgs<S> {
  try {
    const r = parseScriptArgs(spec, argv);
    if (r !== 'help') return r;
    console.log(helpText(spec));
    process.exit(0);
  } catch (e) {
    if (!(e instanceof ArgsError)) throw e;
    console.error(`${e.message} (--help lists the options)`);
    process.exit(2);
  }
}
