/**
 * Edges of the host and its configuration found in review: deadlines and intervals past what a Node
 * timer holds (such a timer fires after 1 ms), commands made durable while a worker died whose first
 * reload fails, a stop that meets a periodic snapshot still being saved, and configuration values that
 * stopped a node from starting or were silently read as 0.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import { PartitionHost } from '../../src/host/partition-host.js';
import { createWorkerPool } from '../../src/host/worker-pool.js';
import { type Harness, removeDir, retryWhileUnavailable, startHost } from './harness.js';

const running: Harness[] = [];
async function host(opts: Parameters<typeof startHost>[0] = {}): Promise<Harness> {
  const h = await startHost(opts);
  running.push(h);
  return h;
}
afterAll(async () => {
  for (const h of running) {
    await h.crash().catch(() => undefined);
    await removeDir(h.dir);
  }
});

async function desk(h: Harness, tenant: string): Promise<void> {
  await h.send(tenant, { type: 'upsert_queue', queue: queueConfig('chat-billing') });
  await h.send(tenant, { type: 'upsert_agent', agent: agentConfig('agent-1') });
  await h.send(tenant, { type: 'set_presence', agentId: 'agent-1', presence: 'online' });
}
const enqueue = (h: Harness, tenant: string, id: string) =>
  h.send(tenant, { type: 'enqueue', conversation: conversation(id, { queueId: 'chat-billing' }) });

describe('timers past 2³¹ − 1 ms', () => {
  it('a deadline of 35 days is no deadline: the command and the query are answered, not expired at once', async () => {
    const h = await host({ pool: 'inline' });
    await h.send('acme', { type: 'upsert_queue', queue: queueConfig('q') });
    const env = {
      id: 'long-deadline',
      at: Date.now(),
      cmd: { type: 'upsert_agent' as const, agent: agentConfig('a1') },
    };
    expect((await h.host.submit('acme', env, 3_000_000_000)).ok).toBe(true);
    expect((await h.host.query('acme', { type: 'digest' }, 3_000_000_000)).type).toBe('digest');
  });

  it('a snapshot interval of months does not turn the idle-snapshot scan into a 1 ms timer', async () => {
    const proto = PartitionHost.prototype as unknown as { snapshotIdle: () => void };
    const original = proto.snapshotIdle;
    let scans = 0;
    proto.snapshotIdle = function (this: unknown) {
      scans++;
      return original.call(this);
    };
    try {
      const h = await host({ pool: 'inline', snapshotEverySeconds: 10_000_000 });
      await new Promise((r) => setTimeout(r, 300));
      await h.host.stop();
      expect(scans).toBe(0);
    } finally {
      proto.snapshotIdle = original;
    }
  });
});

describe('failures around reloads and stops', () => {
  it('events of commands made durable before a worker died are published even if the first reload fails', async () => {
    const h = await host({ pool: 'port', threads: 1 });
    await desk(h, 'acme');
    const seen = new Set<string>();
    h.host.subscribe({ tenant: 'acme' }, (e) => {
      const id = (e.event as { conversationId?: string }).conversationId;
      if (id) seen.add(id);
    });
    // The first reload after the crash fails once (a transient snapshot-store error).
    const load = h.ports.snapshots.load.bind(h.ports.snapshots);
    let failOnce = true;
    h.ports.snapshots.load = async (p: string) => {
      if (failOnce) {
        failOnce = false;
        throw new Error('transient snapshot store error');
      }
      return load(p);
    };
    const crash = h.host.crashWorkerOf('acme', 'exit');
    await Promise.allSettled(Array.from({ length: 10 }, (_, i) => enqueue(h, 'acme', `conv-${i}`)));
    await crash;
    await retryWhileUnavailable(() => h.digest('acme'), 200);
    const existing: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await retryWhileUnavailable(
        () => h.host.query('acme', { type: 'conversation', conversationId: `conv-${i}` }),
        200,
      );
      if (r.type === 'conversation' && r.conversation) existing.push(`conv-${i}`);
    }
    expect(failOnce).toBe(false);
    expect(existing.length).toBeGreaterThan(0);
    expect([...seen].sort()).toEqual(existing.sort());
  });

  it('a stop that meets a periodic snapshot still being saved waits for it and snapshots what came after', async () => {
    const h = await host({ pool: 'port', snapshotEveryCommands: 4 });
    const save = h.ports.snapshots.save.bind(h.ports.snapshots);
    h.ports.snapshots.save = async (s) => {
      await new Promise((r) => setTimeout(r, 400));
      return save(s);
    };
    await desk(h, 'acme');
    await enqueue(h, 'acme', 'c-1'); // the 4th command: a snapshot starts, its save takes 400 ms
    await new Promise((r) => setTimeout(r, 50));
    await enqueue(h, 'acme', 'c-2');
    await enqueue(h, 'acme', 'c-3');
    const last = await h.ports.log.lastSeq('acme');
    await h.host.stop();
    expect(await h.ports.snapshots.storedSeq('acme')).toBe(last);
  });
});

describe('a stop whose final snapshot cannot finish', () => {
  it('gives up after the grace instead of hanging (every acknowledged command is in the log)', async () => {
    const h = await host({ pool: 'inline' });
    await desk(h, 'acme');
    h.ports.snapshots.save = () => new Promise(() => {}); // the store never answers
    const t0 = Date.now();
    await h.host.stop(300);
    expect(Date.now() - t0).toBeLessThan(5000);
  }, 20_000);
});

describe('a closed worker pool', () => {
  it('refuses a call at once instead of leaving it unanswered', async () => {
    const pool = createWorkerPool({ kind: 'port', threads: 1 });
    await pool.close();
    await expect(pool.call(0, { items: [] } as never)).rejects.toThrow(/closed/);
  });
});

describe('configuration edges', () => {
  it('--max-inflight alone may go below 5 000: the per-tenant cap follows it (a quarter) unless given', () => {
    const r = parseConfig(['--max-inflight', '1000'], {});
    expect(r.help === false && r.config.maxInflightPerTenant).toBeUndefined();
    expect(() => parseConfig(['--max-inflight', '1000', '--max-inflight-per-tenant', '2000'], {})).toThrow(
      /at most --max-inflight/,
    );
  });

  it('a blank environment variable or flag is unset, not 0', () => {
    const r = parseConfig(['--http-port='], {
      SB_GRPC_PORT: '',
      SB_MAX_LOOP_LAG_MS: ' ',
      SB_SHUTDOWN_GRACE_MS: '',
    });
    if (r.help) throw new Error('help');
    expect(r.config).toMatchObject({ grpcPort: 50051, httpPort: 8080, maxLoopLagMs: 500 });
    expect(r.config.shutdownGraceMs).toBeGreaterThan(0);
  });

  it('a boolean variable takes yes/no words and refuses anything else, naming it', () => {
    const demo = (v: string) => {
      const r = parseConfig([], { SB_DEMO: v });
      return r.help ? null : r.config.demo;
    };
    expect([demo('on'), demo('yes'), demo('1'), demo('TRUE')]).toEqual([true, true, true, true]);
    expect([demo('off'), demo('no'), demo('0'), demo('')]).toEqual([false, false, false, false]);
    expect(() => demo('maybe')).toThrow(/SB_DEMO: must be true or false/);
  });

  it('--snapshot-seconds and --shutdown-grace-ms are bounded', () => {
    expect(() => parseConfig(['--snapshot-seconds', '10000000'], {})).toThrow(/snapshot-seconds/);
    expect(() => parseConfig(['--shutdown-grace-ms', '99999999999'], {})).toThrow(/shutdown-grace-ms/);
  });
});
