import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  agentSeriesPerTenant,
  ConfigError,
  helpText,
  OPTIONS,
  parseConfig,
  parseTokenList,
  redactUrlCredentials,
} from '../../src/config/index.js';

function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const r = parseConfig(argv, env);
  if (r.help) throw new Error('unexpected --help');
  return r.config;
}

describe('node configuration', () => {
  it('defaults give an embedded node on :50051/:8080 with state under ./data', () => {
    const c = config([]);
    expect(c).toMatchObject({
      grpcPort: 50051,
      httpPort: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      workers: 1,
    });
    expect(c).toMatchObject({ natsUrl: '', demo: false, fsync: 'always', logLevel: 'info', tokens: {} });
  });

  it('a flag wins over its environment variable, which wins over the default', () => {
    const env = {
      SB_GRPC_PORT: '6000',
      SB_HTTP_PORT: '7000',
      SB_TOKENS: 'acme=tok-a-0123456789ab, globex=tok-g-0123456789ab',
      SB_DEMO: 'true',
    };
    const c = config(['--grpc-port', '0'], env);
    expect(c.grpcPort).toBe(0);
    expect(c.httpPort).toBe(7000);
    expect(c.tokens).toEqual({ acme: ['tok-a-0123456789ab'], globex: ['tok-g-0123456789ab'] });
    expect(c.demo).toBe(true);
  });

  it('cluster settings: replicas, event stream and pipelining come from flags or env and are validated', () => {
    expect(config([])).toMatchObject({ natsReplicas: 1, eventStream: 'on', natsPipeline: 'off' });
    const c = config(['--nats-replicas', '3'], { SB_EVENT_STREAM: 'off', SB_NATS_PIPELINE: 'on' });
    expect(c).toMatchObject({ natsReplicas: 3, eventStream: 'off', natsPipeline: 'on' });
    const bad = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        config(argv, env);
      } catch (e) {
        return (e as ConfigError).issues.join('\n');
      }
      return 'accepted';
    };
    expect(bad(['--nats-replicas', '0'])).toMatch(/nats-replicas/);
    expect(bad([], { SB_EVENT_STREAM: 'no' })).toMatch(/event-stream|SB_EVENT_STREAM/);
  });

  it('a tenant listed twice has two tokens (rotation); a third, or one token for two tenants, is refused', () => {
    const [old, nu, g] = ['old-0123456789abcd', 'new-0123456789abcd', 'g-0123456789abcdef'];
    const c = config(['--tokens', `acme=${old},globex=${g},acme=${nu},acme=${old}`], {});
    expect(c.tokens).toEqual({ acme: [old, nu], globex: [g] });
    const issues = (argv: string[]) => {
      try {
        parseConfig(argv, {});
      } catch (e) {
        return (e as ConfigError).issues.join('\n');
      }
      throw new Error('expected a ConfigError');
    };
    expect(issues(['--tokens', `acme=a${old},acme=b${old},acme=c${old}`])).toMatch(
      /--tokens.*"acme" has more than 2 tokens/,
    );
    expect(issues(['--tokens', `acme=${old},globex=${old}`])).toMatch(/--tokens.*both "acme" and "globex"/);
  });

  it('an invalid --tokens is named by line and pair, never echoed: the value holds tokens', () => {
    const issues = (env: NodeJS.ProcessEnv) => {
      try {
        parseConfig([], env);
      } catch (e) {
        return (e as ConfigError).issues.join('\n');
      }
      throw new Error('expected a ConfigError');
    };
    const typo = issues({ SB_TOKENS: 'acme=ValidTok111-0123456,globex:TypoTok222' });
    expect(typo).toMatch(/--tokens \(SB_TOKENS\): line 1, pair 2: not tenant=token/);
    expect(typo).toContain('value not shown');
    expect(typo).not.toMatch(/ValidTok111|TypoTok222/);
    // A token with '/' or '+' (base64) typed before the tenant: not a tenant id, and not shown either.
    const swapped = issues({ SB_TOKENS: 'acme=a1-0123456789abcdef,q8/Secret+Tok=globex' });
    expect(swapped).toMatch(/line 1, pair 2: the tenant is not a valid tenant id/);
    expect(swapped).not.toMatch(/q8|Secret/);
  });

  it('every tenant of --tokens must be one the API accepts (the admin "*" aside); one bad pair refuses them all', () => {
    expect(() => parseConfig(['--tokens', 'acme=a1-0123456789abcdef,de mo=spaceTok'], {})).toThrow(
      /line 1, pair 2: the tenant is not a valid tenant id/,
    );
    expect(() => parseConfig(['--tokens', `${'t'.repeat(65)}=x`], {})).toThrow(/not a valid tenant id/);
    const [a1, adm1, e1] = ['a1-0123456789abcdef', 'adm1-0123456789abcd', 'e1-0123456789abcdef'];
    expect(config(['--tokens', `acme=${a1},*=${adm1},acme.eu=${e1}`], {}).tokens).toEqual({
      acme: [a1],
      '*': [adm1],
      'acme.eu': [e1],
    });
  });

  it('a # inside a token is part of it (a comment starts a line or follows a space); tokens under 16 characters are refused, naming the line', () => {
    const globex = 'Xk29#fT8qLmZ1pR7vW3n';
    expect(config(['--tokens', `acme=acme-0123456789ab,globex=${globex}`], {}).tokens).toEqual({
      acme: ['acme-0123456789ab'],
      globex: [globex],
    });
    expect(parseTokenList(`# tokens\nglobex=${globex} # rotated 2026-12\n\t# acme=gone\n`)).toEqual({
      tokens: { globex: [globex] },
    });
    const issues = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
      try {
        parseConfig(argv, env);
      } catch (e) {
        return (e as ConfigError).issues.join('\n');
      }
      throw new Error('expected a ConfigError');
    };
    const short = issues([], { SB_TOKENS: 'acme=acme-0123456789ab\nglobex=Xk29' });
    expect(short).toMatch(
      /--tokens \(SB_TOKENS\): line 2, pair 1: the token of "globex" has 4 characters, at least 16/,
    );
    expect(short).not.toContain('Xk29');
    expect(issues(['--tokens', '*=adm1'])).toMatch(/line 1, pair 1: the admin token \(\*\) has 4 characters/);
    expect(issues(['--admin-token', 'AdminTok456'])).toMatch(/--admin-token \(SB_ADMIN_TOKEN\): at least 16/);
    expect(issues(['--admin-token', 'AdminTok456'])).not.toContain('AdminTok456');
  });

  it('tenant ids that name Object.prototype members are tenants like any other (were a crash)', () => {
    const t = 'tok-0123456789abcdef';
    const r = parseTokenList(`__proto__=a${t}\nconstructor=b${t}\ntoString=c${t},__proto__=d${t}`);
    expect('tokens' in r && Object.entries(r.tokens)).toEqual([
      ['__proto__', [`a${t}`, `d${t}`]],
      ['constructor', [`b${t}`]],
      ['toString', [`c${t}`]],
    ]);
    expect(Object.entries(config(['--tokens', `__proto__=a${t}`], {}).tokens)).toEqual([
      ['__proto__', [`a${t}`]],
    ]);
  });

  it('URLs with credentials are shown without them', () => {
    expect(redactUrlCredentials('nats://sb:NatsPass1@n1:4222,nats://tok3n@n2:4222,nats://n3:4222')).toBe(
      'nats://***@n1:4222,nats://***@n2:4222,nats://n3:4222',
    );
    expect(redactUrlCredentials('mongodb+srv://sb:p%40ss@cluster0.example.net/db?w=majority')).toBe(
      'mongodb+srv://***@cluster0.example.net/db?w=majority',
    );
  });

  it('invalid values are reported by flag and variable name, all at once', () => {
    try {
      parseConfig(['--grpc-port', '70000', '--workers', 'two'], { SB_TOKENS: 'acme' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const issues = (e as ConfigError).issues.join('\n');
      expect(issues).toMatch(/--grpc-port \(SB_GRPC_PORT\)/);
      expect(issues).toMatch(/--workers \(SB_WORKERS\)/);
      expect(issues).toMatch(/--tokens \(SB_TOKENS\).*not tenant=token/);
    }
  });

  it('an unknown flag is an error, --help lists every option with its variable', () => {
    expect(() => parseConfig(['--grpc-prot', '1'], {})).toThrow(ConfigError);
    expect(parseConfig(['--help'], {})).toEqual({ help: true });
    for (const v of [
      'SB_GRPC_PORT',
      'SB_HTTP_PORT',
      'SB_DATA_DIR',
      'SB_WORKERS',
      'NATS_URL',
      'MONGO_URL',
      'SB_NODE_ID',
    ]) {
      expect(helpText()).toContain(v);
    }
    // Every flag is followed by at least two spaces before its variable, however long the flag.
    for (const line of helpText()
      .split('\n')
      .filter((l) => l.startsWith('  --'))) {
      expect(line).toMatch(/^ {2}--\S+( <v>)? {2,}/);
    }
  });

  it('--tokens and --tokens-file are one or the other', () => {
    expect(config(['--tokens-file', '/etc/sb/tokens'])).toMatchObject({
      tokensFile: '/etc/sb/tokens',
      tokens: {},
    });
    try {
      parseConfig(['--tokens', 'acme=a-0123456789abcdef', '--tokens-file', '/etc/sb/tokens'], {});
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).issues.join('\n')).toMatch(
        /--tokens-file \(SB_TOKENS_FILE\): give --tokens or --tokens-file, not both/,
      );
    }
  });

  it('gRPC keepalive and connection age: on by default (30 s / 10 s), age off; nonsense refused', () => {
    expect(config([])).toMatchObject({
      grpcKeepaliveMs: 30_000,
      grpcKeepaliveTimeoutMs: 10_000,
      grpcMaxConnectionAgeMs: 0,
    });
    expect(
      config(['--grpc-keepalive-ms', '0', '--grpc-max-connection-age-ms', '600000'], {
        SB_GRPC_KEEPALIVE_TIMEOUT_MS: '2000',
      }),
    ).toMatchObject({ grpcKeepaliveMs: 0, grpcKeepaliveTimeoutMs: 2000, grpcMaxConnectionAgeMs: 600_000 });
    const issues = (argv: string[]) => {
      try {
        parseConfig(argv, {});
      } catch (e) {
        return (e as ConfigError).issues.join('\n');
      }
      return 'accepted';
    };
    expect(issues(['--grpc-keepalive-ms', '200'])).toMatch(/--grpc-keepalive-ms .*0 \(off\) or 1000/);
    expect(issues(['--grpc-keepalive-timeout-ms', '0'])).toMatch(/--grpc-keepalive-timeout-ms/);
    expect(issues(['--grpc-max-connection-age-ms', '5000'])).toMatch(
      /--grpc-max-connection-age-ms .*at least 10000/,
    );
  });

  it("--customer-limit: the engine's 2 000 000 by default, from the flag or SB_CUSTOMER_LIMIT, at least 1", () => {
    expect(config([]).customerLimit).toBe(2_000_000);
    expect(config([], { SB_CUSTOMER_LIMIT: '50000' }).customerLimit).toBe(50_000);
    expect(config(['--customer-limit', '10'], { SB_CUSTOMER_LIMIT: '50000' }).customerLimit).toBe(10);
    for (const bad of ['0', '-1', '1.5', 'lots'])
      expect(() => parseConfig(['--customer-limit', bad], {})).toThrow(ConfigError);
  });

  it('--agent-series-per-tenant defaults to a quarter of --agent-series-limit and may not exceed it', () => {
    expect(agentSeriesPerTenant(config([], {}))).toBe(2500);
    expect(agentSeriesPerTenant(config(['--agent-series-limit', '1'], {}))).toBe(1);
    expect(agentSeriesPerTenant(config(['--agent-series-limit', '0'], {}))).toBe(0);
    expect(agentSeriesPerTenant(config([], { SB_AGENT_SERIES_PER_TENANT: '700' }))).toBe(700);
    expect(() =>
      parseConfig(['--agent-series-limit', '100', '--agent-series-per-tenant', '101'], {}),
    ).toThrow(
      /agent-series-per-tenant.*at most --agent-series-limit \(100\)|at most --agent-series-limit \(100\)/,
    );
    for (const bad of ['-1', '1.5', 'lots'])
      expect(() => parseConfig(['--agent-series-per-tenant', bad], {})).toThrow(ConfigError);
  });

  it("README's configuration table lists every option with its variable and default", () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of readme.split('\n')) {
      const m = /^\| `--([a-z0-9-]+)` \| `?([A-Z_]*)`? \| ([^|]*) \|/.exec(line);
      if (m) rows.set(m[1] as string, [m[2] as string, (m[3] as string).trim()]);
    }
    for (const o of Object.values(OPTIONS)) {
      const row = rows.get(o.flag);
      expect(row, `README row for --${o.flag}`).toBeDefined();
      expect(row?.[0], `--${o.flag}'s variable`).toBe(o.env ?? '');
      if (o.default !== '') expect(row?.[1], `--${o.flag}'s default`).toBe(o.default);
    }
  });
});
