/** The `switchboard` command as a newcomer meets it: --help, clear configuration errors, --demo, SIGTERM. */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hasOpenssl, TestCerts } from '../support/certs.js';
import { NODE_MAIN, type NodeProcess, REPO_ROOT, startNodeProcess } from '../support/node-process.js';
import { waitFor } from '../support/wait-for.js';

const nodes: NodeProcess[] = [];
afterAll(async () => {
  for (const n of nodes) await n.dispose();
});

/** The node's output once its `--demo` banner (written to stderr after it listens) has arrived. */
async function banner(node: NodeProcess): Promise<string> {
  return waitFor(
    () => {
      const out = node.lines().join('\n');
      return out.includes('Try:') && out.includes(' list') ? out : null;
    },
    { what: 'the --demo banner' },
  );
}

function hasCurl(): boolean {
  return spawnSync('sh', ['-c', 'command -v curl']).status === 0;
}

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [NODE_MAIN, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 20_000,
  });
}

describe('switchboard CLI', () => {
  it('--help lists the options and exits 0', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--grpc-port');
    expect(r.stdout).toContain('SB_DATA_DIR');
  });

  it('an invalid flag or variable is named on stderr and the exit code is 2', () => {
    const r = run(['--workers', 'many'], { SB_HTTP_PORT: '99999' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--workers \(SB_WORKERS\)/);
    expect(r.stderr).toMatch(/--http-port \(SB_HTTP_PORT\)/);
  });

  it('TLS files that cannot be used stop the start with exit code 2, before any state is touched', () => {
    const r = run([
      '--tls-cert',
      '/nonexistent/tls.pem',
      '--tls-key',
      '/nonexistent/tls.key',
      '--data-dir',
      '/nonexistent/data',
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--tls-cert /nonexistent/tls.pem: ENOENT');
    const tokens = run(['--tokens-file', '/nonexistent/tokens']);
    expect(tokens.status).toBe(2);
    expect(tokens.stderr).toContain('--tokens-file /nonexistent/tokens: ENOENT');
    const half = run(['--tls-cert', '/nonexistent/tls.pem']);
    expect(half.status).toBe(2);
    expect(half.stderr).toMatch(/--tls-key \(SB_TLS_KEY\): --tls-cert and --tls-key go together/);
  });

  it('NATS credential and certificate files are checked at start too (exit 2, every problem named)', () => {
    const r = run([
      '--nats-url',
      'nats://127.0.0.1:1',
      '--nats-creds',
      '/nonexistent/node.creds',
      '--nats-tls-ca',
      '/nonexistent/ca.pem',
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--nats-creds /nonexistent/node.creds: ENOENT');
    expect(r.stderr).toContain('--nats-tls-ca /nonexistent/ca.pem: ENOENT');
    const notCreds = run(['--nats-url', 'nats://127.0.0.1:1', '--nats-creds', NODE_MAIN]);
    expect(notCreds.status).toBe(2);
    expect(notCreds.stderr).toContain('not a NATS credentials file');
    const embedded = run(['--nats-tls-ca', NODE_MAIN]);
    expect(embedded.status).toBe(2);
    expect(embedded.stderr).toContain('apply to cluster mode: set --nats-url');
    const half = run(['--nats-tls-cert', NODE_MAIN]);
    expect(half.status).toBe(2);
    expect(half.stderr).toContain('--nats-tls-cert and --nats-tls-key go together');
  });

  it('--demo serves a ready contact centre: a billing chat in French goes to a French-speaking agent', async () => {
    const node = await startNodeProcess({ args: ['--demo'] });
    nodes.push(node);
    // The demo is loaded before the node listens: the first request is routed at once.
    const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/tenants/demo/conversations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'conv-fr-1',
        channel: 'CHANNEL_CHAT',
        customer: { id: 'cust-1' },
        queueId: 'chat-billing',
        requiredSkills: [{ skill: 'lang:fr', minLevel: 5 }],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { status?: string; agentName?: string };
    expect(body.status).toBe('ENQUEUE_STATUS_ASSIGNED');
    expect(['Alice Martin', 'Farid Benali', 'Dalia Haddad']).toContain(body.agentName);
    expect(node.lines().join('\n')).toContain('Demo tenant "demo" is ready');
  });

  it('secrets never reach the terminal: configuration errors name the pair, not its text', () => {
    const r = run([], {
      SB_TOKENS: 'acme=ValidTok111-0123456,globex:TypoTok222',
      SB_WORKERS: 'many',
      MONGO_URL: 'mongodb://sb:MongoPass999@db:27017/switchboard',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--tokens \(SB_TOKENS\): line 1, pair 2: not tenant=token/);
    for (const secret of ['ValidTok111', 'TypoTok222', 'MongoPass999'])
      expect(r.stderr).not.toContain(secret);
    const bad = run(['--tokens', 'de mo=spaceTok,acme=a1']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/line 1, pair 1: the tenant is not a valid tenant id/);
    expect(bad.stderr).not.toContain('spaceTok');
  });

  it('--demo with authentication on prints how to pass a token, never a token', async () => {
    const node = await startNodeProcess({
      args: ['--demo', '--tokens', 'demo=DemoTok123-0123456', '--admin-token', 'AdminTok456-0123456'],
    });
    nodes.push(node);
    const out = node.lines().join('\n');
    expect(out).toContain('Demo tenant "demo" is ready');
    expect(out).toContain('authorization: Bearer $TOKEN');
    expect(out).not.toContain('DemoTok123');
    expect(out).not.toContain('AdminTok456');
  });

  it.skipIf(!hasOpenssl() || !hasCurl())(
    '--demo with TLS prints https commands with the CA, and the first one works as printed',
    async () => {
      const certs = new TestCerts().ca('ca1').cert('server1', 'ca1', 'server');
      try {
        const node = await startNodeProcess({
          args: ['--demo', '--tls-cert', certs.path('server1.pem'), '--tls-key', certs.path('server1.key')],
        });
        nodes.push(node);
        const out = await banner(node);
        expect(out).not.toContain('-plaintext');
        expect(out).not.toMatch(/http:\/\//);
        const enqueue = node
          .lines()
          .find((l) => l.trim().startsWith('curl') && l.includes('-X POST'))
          ?.trim();
        expect(enqueue).toMatch(/^curl -s --cacert ca\.pem -X POST https:\/\/localhost:\d+\//);
        // Run it as printed, ca.pem being the CA that signed the node's certificate.
        const answer = execFileSync(
          'sh',
          ['-c', (enqueue as string).replace('ca.pem', certs.path('ca1.pem'))],
          {
            encoding: 'utf8',
            timeout: 20_000,
          },
        );
        expect(JSON.parse(answer)).toMatchObject({ status: 'ENQUEUE_STATUS_ASSIGNED' });
      } finally {
        certs.remove();
      }
    },
  );

  it('--demo on a restart does not claim its agents are online: it says the tenant was already there', async () => {
    const first = await startNodeProcess({ args: ['--demo'] });
    nodes.push(first);
    expect(await banner(first)).toContain('10 agents online');
    expect(await first.stop()).toBe(0);
    const again = await first.restart();
    nodes.push(again);
    const out = await banner(again);
    expect(out).toContain('Demo tenant "demo" was already here (loaded by an earlier run)');
    expect(out).not.toContain('agents online');
  });

  it('every log line carries pid, hostname and the node id', async () => {
    const node = await startNodeProcess({ args: ['--demo', '--node-id', 'node-log-7'] });
    nodes.push(node);
    expect(await node.stop()).toBe(0);
    const logs = node
      .lines()
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['listening', 'stopped: partitions snapshotted, log closed']),
    );
    for (const l of logs)
      expect(l, String(l.msg)).toMatchObject({ pid: node.pid, hostname: hostname(), nodeId: 'node-log-7' });
  });

  it('SIGTERM stops gracefully: exit 0 and every partition snapshotted', async () => {
    const node = await startNodeProcess({ args: ['--demo'] });
    nodes.push(node);
    expect(await node.stop()).toBe(0);
    expect(node.lines().some((l) => l.includes('stopped: partitions snapshotted'))).toBe(true);
    expect(await readdir(join(node.dataDir, 'snapshots'))).toEqual(['demo.snap']);
  });
});
