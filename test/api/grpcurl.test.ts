/**
 * The README walk-through uses grpcurl with server reflection (no .proto files on the client). This
 * drives the real grpcurl binary against the server when it is installed
 * (`go install github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3`), and says why when it is not.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, TOKENS } from './support/harness.js';

const run = promisify(execFile);
const candidates = [
  process.env.GRPCURL,
  join(homedir(), 'go', 'bin', 'grpcurl'),
  '/usr/local/bin/grpcurl',
  '/usr/bin/grpcurl',
];
const grpcurl = candidates.find((p): p is string => p !== undefined && existsSync(p));
if (!grpcurl)
  console.warn(
    'grpcurl not installed: skipping the grpcurl walk-through test (set GRPCURL or go install it)',
  );

let h: Harness;
beforeAll(async () => {
  if (grpcurl) h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function grpcurlRun(...args: string[]): Promise<string> {
  const { stdout } = await run(grpcurl!, ['-plaintext', ...args], { timeout: 15_000 });
  return stdout;
}

describe('grpcurl through server reflection', () => {
  it.skipIf(!grpcurl)('lists the services, describes Enqueue and routes a chat from JSON', async () => {
    const addr = `127.0.0.1:${h.grpcPort}`;
    const list = await grpcurlRun(addr, 'list');
    expect(list).toContain('switchboard.v1.GatewayService');
    expect(list).toContain('grpc.health.v1.Health');
    const desc = await grpcurlRun(addr, 'describe', 'switchboard.v1.GatewayService.Enqueue');
    expect(desc).toContain('EnqueueRequest');
    const health = await grpcurlRun(addr, 'grpc.health.v1.Health/Check');
    expect(health).toContain('SERVING');
    const auth = ['-H', `authorization: Bearer ${TOKENS.acme}`];
    await grpcurlRun(
      ...auth,
      '-d',
      '{"tenant":"acme","queue":{"id":"support","channel":"CHANNEL_CHAT","strategy":"STRATEGY_LEAST_BUSY"}}',
      addr,
      'switchboard.v1.AdminService/UpsertQueue',
    );
    await grpcurlRun(
      ...auth,
      '-d',
      '{"tenant":"acme","agent":{"id":"ana","displayName":"Ana","capacity":{"chat":2}}}',
      addr,
      'switchboard.v1.AdminService/UpsertAgent',
    );
    await grpcurlRun(
      ...auth,
      '-d',
      '{"tenant":"acme","agentId":"ana","presence":"PRESENCE_ONLINE"}',
      addr,
      'switchboard.v1.AgentDeskService/SetPresence',
    );
    const out = await grpcurlRun(
      ...auth,
      '-d',
      '{"tenant":"acme","conversation":{"id":"c-1","channel":"CHANNEL_CHAT","customer":{"id":"cust-1"},"queueId":"support"}}',
      addr,
      'switchboard.v1.GatewayService/Enqueue',
    );
    expect(JSON.parse(out)).toMatchObject({
      conversationId: 'c-1',
      status: 'ENQUEUE_STATUS_ASSIGNED',
      agentId: 'ana',
      agentName: 'Ana',
    });
    // The README's paged ListAgentStats: page_size in, nextPageToken out and back as page_token.
    await grpcurlRun(
      ...auth,
      '-d',
      '{"tenant":"acme","agent":{"id":"bo","displayName":"Bo","capacity":{"chat":2}}}',
      addr,
      'switchboard.v1.AdminService/UpsertAgent',
    );
    const first = JSON.parse(
      await grpcurlRun(
        ...auth,
        '-d',
        '{"tenant":"acme","page_size":1}',
        addr,
        'switchboard.v1.StatisticsService/ListAgentStats',
      ),
    );
    expect(first).toMatchObject({ stats: [{ agentId: 'ana' }], totalSize: 2 });
    const second = JSON.parse(
      await grpcurlRun(
        ...auth,
        '-d',
        JSON.stringify({ tenant: 'acme', page_size: 1, page_token: first.nextPageToken }),
        addr,
        'switchboard.v1.StatisticsService/ListAgentStats',
      ),
    );
    expect(second).toMatchObject({ stats: [{ agentId: 'bo' }], totalSize: 2 });
    expect(second.nextPageToken).toBeUndefined();
  });
});
