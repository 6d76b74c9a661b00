/**
 * Cluster mode against secured NATS servers, as production runs them: TLS (server certificate from a
 * private CA, optionally verifying client certificates) and decentralized JWT auth with a `.creds` file
 * (`--nats-tls-ca`, `--nats-tls-cert`/`--nats-tls-key`, `--nats-creds`). Each test starts its own server.
 */
import { writeFileSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { encodeAccount, encodeOperator, encodeUser, fmtCreds } from '@nats-io/jwt';
import { createAccount, createOperator, createUser } from '@nats-io/nkeys';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createClusterPorts } from '../../src/cluster/nats/index.js';
import { hasOpenssl, TestCerts } from '../support/certs.js';
import { startNatsServer } from '../support/nats-server.js';

const openssl = hasOpenssl();
if (!openssl)
  console.warn('[nats-security] the TLS cases are SKIPPED: no `openssl` command to make certificates with');

const certs = new TestCerts();
const path = (name: string) => certs.path(name);
afterAll(() => certs.remove());
if (openssl) certs.ca('ca').ca('otherca').cert('server', 'ca', 'server').cert('client', 'ca', 'client');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/**
 * Opens cluster ports the way a node does (which creates the streams and buckets: JetStream works through
 * the connection) and returns how many streams the account then has.
 */
async function openPorts(security: Parameters<typeof createClusterPorts>[0]): Promise<number> {
  const ports = await createClusterPorts({ ...security, nodeId: 'sec-test', leaseTtlMs: 2000 });
  cleanups.push(() => ports.close());
  const info = await (await jetstreamManager(ports.nc)).getAccountInfo();
  return info.streams;
}

/** The connect error of ports that must not open. */
async function refused(
  url: string,
  security: Partial<Parameters<typeof createClusterPorts>[0]>,
): Promise<string> {
  try {
    const ports = await createClusterPorts({
      natsUrl: url,
      nodeId: 'sec-test',
      leaseTtlMs: 2000,
      // A refused TLS client certificate shows up as a connection that never completes.
      connectTimeoutMs: 3000,
      ...security,
    });
    await ports.close();
  } catch (e) {
    return String((e as Error).message);
  }
  return 'connected';
}

describe.skipIf(!openssl)('cluster mode over TLS to NATS', () => {
  it('with --nats-tls-ca the node connects to a TLS-only server; without the CA it is refused', async () => {
    const s = await startNatsServer({
      extraConfig: `tls {\n  cert_file: "${path('server.pem')}"\n  key_file: "${path('server.key')}"\n}\n`,
    });
    cleanups.push(() => s.cleanup());
    expect(await openPorts({ natsUrl: s.url, nodeId: 'x', tls: { caFile: path('ca.pem') } })).toBeGreaterThan(
      0,
    );
    expect(await refused(s.url, {})).toMatch(/certificate|self.signed|unable to verify/i);
    expect(await refused(s.url, { tls: { caFile: path('otherca.pem') } })).toMatch(
      /certificate|unable to verify/i,
    );
  });

  it('a server that verifies clients takes the node with --nats-tls-cert/--nats-tls-key, not without', async () => {
    const s = await startNatsServer({
      extraConfig:
        `tls {\n  cert_file: "${path('server.pem')}"\n  key_file: "${path('server.key')}"\n` +
        `  ca_file: "${path('ca.pem')}"\n  verify: true\n}\n`,
    });
    cleanups.push(() => s.cleanup());
    const withCert = { caFile: path('ca.pem'), certFile: path('client.pem'), keyFile: path('client.key') };
    expect(await openPorts({ natsUrl: s.url, nodeId: 'x', tls: withCert })).toBeGreaterThan(0);
    expect(await refused(s.url, { tls: { caFile: path('ca.pem') } })).toMatch(/timeout|certificate|closed/i);
  });
});

describe('cluster mode with NATS JWT credentials', () => {
  it('with --nats-creds the node authenticates to an operator-mode server (JetStream enabled for its account); a stranger is refused', async () => {
    const operator = createOperator();
    const account = createAccount();
    const user = createUser();
    const opJwt = await encodeOperator('sb-op', operator);
    const acJwt = await encodeAccount(
      'sb',
      account,
      {
        // Unlimited, JetStream included (a limit left out is 0: no connections at all).
        limits: {
          subs: -1,
          conn: -1,
          leaf: -1,
          imports: -1,
          exports: -1,
          data: -1,
          payload: -1,
          wildcards: true,
          mem_storage: -1,
          disk_storage: -1,
          streams: -1,
          consumer: -1,
        },
      },
      { signer: operator },
    );
    // JetStream needs a system account in operator mode.
    const system = createAccount();
    const sysJwt = await encodeAccount('SYS', system, {}, { signer: operator });
    const userJwt = await encodeUser('node', user, account);
    writeFileSync(path('node.creds'), fmtCreds(userJwt, user));
    // A user signed by an account the server does not know.
    const strangerAccount = createAccount();
    const stranger = createUser();
    writeFileSync(
      path('stranger.creds'),
      fmtCreds(await encodeUser('x', stranger, strangerAccount), stranger),
    );

    const s = await startNatsServer({
      extraConfig:
        `operator: "${opJwt}"\nsystem_account: ${system.getPublicKey()}\nresolver: MEMORY\n` +
        `resolver_preload: {\n  ${account.getPublicKey()}: "${acJwt}"\n  ${system.getPublicKey()}: "${sysJwt}"\n}\n`,
    });
    cleanups.push(() => s.cleanup());
    expect(await openPorts({ natsUrl: s.url, nodeId: 'x', credsFile: path('node.creds') })).toBeGreaterThan(
      0,
    );
    expect(await refused(s.url, {})).toMatch(/authorization|AUTHORIZATION/i);
    expect(await refused(s.url, { credsFile: path('stranger.creds') })).toMatch(
      /authorization|AUTHORIZATION/i,
    );
  });
});
