/**
 * TLS on both API ports (`--tls-cert`, `--tls-key`, `--tls-client-ca`): certificates made here with the
 * `openssl` command line (a CA, a server certificate for 127.0.0.1/localhost, a client certificate).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readTlsMaterial, TlsError, TlsFiles } from '../../src/api/tls.js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import { createNodeMetrics } from '../../src/metrics/index.js';
import { hasOpenssl, TestCerts } from '../support/certs.js';
import { NODE_MAIN, startNodeProcess } from '../support/node-process.js';
import { waitFor } from '../support/wait-for.js';
import { chatQueue } from './support/fixtures.js';
import { call, type Harness, startHarness } from './support/harness.js';

const openssl = hasOpenssl();
if (!openssl) console.warn('[tls] SKIPPED: no `openssl` command to make test certificates with');
if (!existsSync(NODE_MAIN))
  console.warn(`[tls] the real-node case is SKIPPED: ${NODE_MAIN} missing (npm test builds it)`);

const certs = new TestCerts();
const path = (name: string) => certs.path(name);
afterAll(() => certs.remove());
if (openssl) {
  certs.ca('ca1').ca('ca2').ca('clientca');
  certs.cert('server1', 'ca1', 'server').cert('server2', 'ca2', 'server');
  certs.cert('client', 'clientca', 'client').cert('stranger', 'ca2', 'client');
}

const read = (name: string) => certs.read(name);
/** Puts `from` at `to` in one rename, as a secret volume update does. */
function replace(to: string, from: string): void {
  writeFileSync(path(`${to}.tmp`), read(from));
  renameSync(path(`${to}.tmp`), path(to));
}

let h: Harness | null = null;
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await h?.close();
  h = null;
});

/**
 * What the runbook tells gateways to configure: retry UNAVAILABLE / RESOURCE_EXHAUSTED, waiting the
 * server's pushback. A node just started on a busy machine may shed its first calls (event loop late).
 */
const RETRYING = {
  'grpc.service_config': JSON.stringify({
    methodConfig: [
      {
        name: [{ service: 'switchboard.v1.AdminService' }],
        retryPolicy: {
          maxAttempts: 5,
          initialBackoff: '0.05s',
          maxBackoff: '2s',
          backoffMultiplier: 2,
          retryableStatusCodes: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'],
        },
      },
    ],
  }),
};

function adminClient(
  port: number,
  creds: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): AdminServiceClient {
  const c = new AdminServiceClient(`127.0.0.1:${port}`, creds, options);
  clients.push(c);
  return c;
}

/** A real node refuses tokens under 16 characters (the harness takes its own as they are). */
const NODE_ADMIN_TOKEN = 'tok-admin-0123456789';
const upsert = (c: AdminServiceClient, token = 'tok-admin') =>
  call(c, c.upsertQueue, { tenant: 'acme', requestId: '', queue: chatQueue('billing') }, token, {
    deadline: Date.now() + 3000,
  });

async function failure(p: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await p;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error('expected the call to fail');
}

function httpsGet(
  port: number,
  ca: Buffer,
  pathname: string,
  opts: { method?: string; body?: string; client?: string; token?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const identity = opts.client ? { key: read(`${opts.client}.key`), cert: read(`${opts.client}.pem`) } : {};
    const headers = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const method = opts.method ?? 'GET';
    const req = request(
      { host: '127.0.0.1', port, path: pathname, ca, method, headers, ...identity },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe.skipIf(!openssl)('TLS on the API ports', () => {
  it('gRPC and HTTP serve TLS only; a client trusting the CA gets through, a plaintext one does not', async () => {
    replace('tls.pem', 'server1.pem');
    replace('tls.key', 'server1.key');
    const tls = new TlsFiles({ certFile: path('tls.pem'), keyFile: path('tls.key'), reloadMs: 60_000 });
    h = await startHarness({ tls });
    await upsert(adminClient(h.grpcPort, grpc.credentials.createSsl(read('ca1.pem'))));
    const plain = await failure(upsert(adminClient(h.grpcPort, grpc.credentials.createInsecure())));
    expect(plain.code).toBe(grpc.status.UNAVAILABLE);
    const wrongCa = await failure(
      upsert(adminClient(h.grpcPort, grpc.credentials.createSsl(read('ca2.pem')))),
    );
    expect(wrongCa.code).toBe(grpc.status.UNAVAILABLE);
    expect(await httpsGet(h.httpPort, read('ca1.pem'), '/healthz')).toMatchObject({ status: 200 });
    await expect(fetch(`http://127.0.0.1:${h.httpPort}/healthz`)).rejects.toThrow();
  });

  it('with a client CA, gRPC callers need a certificate it signed; so does the HTTP /v1 mirror, not the probes', async () => {
    replace('tls.pem', 'server1.pem');
    replace('tls.key', 'server1.key');
    const tls = new TlsFiles({
      certFile: path('tls.pem'),
      keyFile: path('tls.key'),
      clientCaFile: path('clientca.pem'),
      reloadMs: 60_000,
    });
    h = await startHarness({ tls });
    const withCert = grpc.credentials.createSsl(read('ca1.pem'), read('client.key'), read('client.pem'));
    await upsert(adminClient(h.grpcPort, withCert));
    const none = await failure(upsert(adminClient(h.grpcPort, grpc.credentials.createSsl(read('ca1.pem')))));
    expect(none.code).toBe(grpc.status.UNAVAILABLE);
    const stranger = grpc.credentials.createSsl(read('ca1.pem'), read('stranger.key'), read('stranger.pem'));
    expect((await failure(upsert(adminClient(h.grpcPort, stranger)))).code).toBe(grpc.status.UNAVAILABLE);
    // Probes and Prometheus present no certificate.
    for (const probe of ['/healthz', '/readyz', '/metrics']) {
      expect(await httpsGet(h.httpPort, read('ca1.pem'), probe), probe).toMatchObject({ status: 200 });
    }
    // The mirror of the API asks what gRPC asks (before: a PUT with no certificate and no token created a queue).
    const put = (client?: string) =>
      httpsGet(h!.httpPort, read('ca1.pem'), '/v1/tenants/acme/queues/mirror', {
        method: 'PUT',
        body: JSON.stringify({ name: 'M', channel: 'CHANNEL_CHAT', strategy: 'STRATEGY_LONGEST_IDLE' }),
        token: 'tok-admin',
        ...(client ? { client } : {}),
      });
    for (const client of [undefined, 'stranger']) {
      const r = await put(client);
      expect(r.status, `client certificate ${client}`).toBe(401);
      expect(JSON.parse(r.body).error.code).toBe('SB_ERR_UNAUTHENTICATED');
    }
    const events = await httpsGet(h.httpPort, read('ca1.pem'), '/v1/tenants/acme/events', {
      token: 'tok-admin',
    });
    expect(events.status).toBe(401);
    expect(await h.router.query('acme', { type: 'queue', queueId: 'mirror' })).toMatchObject({ queue: null });
    expect(await put('client')).toMatchObject({ status: 200 });
  });

  it('a rotated certificate is served without a restart; a half-rotated pair keeps the old one', async () => {
    replace('tls.pem', 'server1.pem');
    replace('tls.key', 'server1.key');
    const rejected: string[] = [];
    let reloads = 0;
    const tls = new TlsFiles(
      { certFile: path('tls.pem'), keyFile: path('tls.key'), reloadMs: 50 },
      { reloaded: () => reloads++, rejected: (e) => rejected.push(e.message) },
    );
    h = await startHarness({ tls });
    const port = h.grpcPort;
    await upsert(adminClient(port, grpc.credentials.createSsl(read('ca1.pem'))));

    // Half-way: the new certificate is in place, its key not yet.
    replace('tls.pem', 'server2.pem');
    await waitFor(() => rejected.length > 0, { what: 'the half-rotated pair to be rejected' });
    expect(rejected[0]).toMatch(/--tls-cert .* \/ --tls-key .*key values mismatch/);
    expect(reloads).toBe(0);
    await upsert(adminClient(port, grpc.credentials.createSsl(read('ca1.pem'))));

    replace('tls.key', 'server2.key');
    await waitFor(() => reloads > 0, { what: 'the completed pair to be loaded' });
    expect(reloads).toBe(1);
    await upsert(adminClient(port, grpc.credentials.createSsl(read('ca2.pem'))));
    expect((await failure(upsert(adminClient(port, grpc.credentials.createSsl(read('ca1.pem')))))).code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect(await httpsGet(h.httpPort, read('ca2.pem'), '/healthz')).toMatchObject({ status: 200 });
  });

  it('unusable files are refused up front, naming the option and the file', () => {
    const cfg = (over: Partial<{ certFile: string; keyFile: string; clientCaFile: string }>) => ({
      certFile: path('server1.pem'),
      keyFile: path('server1.key'),
      reloadMs: 1000,
      ...over,
    });
    const refused = (over: Parameters<typeof cfg>[0]) => {
      try {
        readTlsMaterial(cfg(over));
      } catch (e) {
        expect(e).toBeInstanceOf(TlsError);
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(refused({})).toBe('accepted');
    expect(refused({ certFile: path('nope.pem') })).toBe(`--tls-cert ${path('nope.pem')}: ENOENT`);
    expect(refused({ keyFile: path('server2.key') })).toMatch(/key values mismatch/);
    expect(refused({ certFile: path('server1.ext') })).toMatch(/^--tls-cert .* \/ --tls-key /);
    expect(refused({ clientCaFile: path('server1.ext') })).toMatch(/^--tls-client-ca .*server1\.ext: /);
  });

  it('the certificate expiry is a metric, read at scrape time', async () => {
    const registry = new Registry();
    let cert = read('server1.pem');
    createNodeMetrics(registry, {
      inflight: () => 0,
      partitionsOwned: () => 0,
      queueStats: async () => [],
      tlsCertificate: () => cert,
    });
    const value = async () =>
      (await registry.getSingleMetric('switchboard_tls_certificate_expiry_timestamp_seconds')?.get())
        ?.values[0]?.value;
    const notAfter = (pem: Buffer) => Date.parse(new X509Certificate(pem).validTo) / 1000;
    expect(await value()).toBe(notAfter(cert));
    expect(notAfter(cert) * 1000).toBeGreaterThan(Date.now() + 86_400_000);
    cert = read('client.pem');
    expect(await value()).toBe(notAfter(cert));
  });

  it.skipIf(!existsSync(NODE_MAIN))(
    'a node started with --tls-cert/--tls-key serves both ports over TLS and exports the expiry',
    async () => {
      const node = await startNodeProcess({
        args: [
          '--tls-cert',
          path('server1.pem'),
          '--tls-key',
          path('server1.key'),
          '--admin-token',
          NODE_ADMIN_TOKEN,
        ],
      });
      try {
        await upsert(
          adminClient(node.grpcPort, grpc.credentials.createSsl(read('ca1.pem')), RETRYING),
          NODE_ADMIN_TOKEN,
        );
        const metrics = await httpsGet(node.httpPort, read('ca1.pem'), '/metrics');
        expect(metrics.status).toBe(200);
        const line = metrics.body
          .split('\n')
          .find((l) => l.startsWith('switchboard_tls_certificate_expiry_timestamp_seconds '));
        expect(Number(line?.split(' ')[1])).toBe(
          Date.parse(new X509Certificate(read('server1.pem')).validTo) / 1000,
        );
      } finally {
        await node.dispose();
      }
    },
  );
});
