/**
 * Embedded mode: a holder whose data-directory lock was taken over (it was stopped past the staleness
 * limit while a second node started on the same volume) notices and fences itself: it never touches the
 * new holder's lock, writes nothing more (log, snapshots, trims, a close's truncation), acknowledges
 * nothing more, refuses every call with SB_ERR_UNAVAILABLE, is not ready, and (the CLI) exits 3.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { readdir, readFile, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  acquireDataDirLock,
  FileCommandLog,
  FileSnapshotStore,
  type LockLoss,
} from '../../src/cluster/embedded/index.js';
import { enqueueEnvelope, storedSnapshot } from '../support/contracts.js';
import { startInProcessNode } from '../support/in-process-node.js';
import { type NodeProcess, startNodeProcess } from '../support/node-process.js';
import { tempDataDir } from './harness.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lock of a node in another PID namespace, put in place of LOCK the way a takeover does: a new file. */
function takeOverSync(dir: string, nonce = 'theirs'): void {
  const holder = { pid: 4242, host: hostname(), pidns: 'pid:[4026530000]', nonce };
  writeFileSync(join(dir, 'LOCK.theirs.tmp'), JSON.stringify(holder));
  renameSync(join(dir, 'LOCK.theirs.tmp'), join(dir, 'LOCK'));
}

/** Holds the event loop like a stopped process: no timer runs meanwhile. */
function stall(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Every file under `dir` but LOCK (and lock temp files), with a hash of its bytes. */
async function contents(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, prefix: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const rel = prefix + e.name;
      if (rel.startsWith('LOCK')) continue;
      if (e.isDirectory()) await walk(join(d, e.name), `${rel}/`);
      else
        out[rel] = createHash('sha256')
          .update(await readFile(join(d, e.name)))
          .digest('hex');
    }
  };
  await walk(dir, '');
  return out;
}

describe('the holder of a data directory lock taken over', () => {
  it('finds it lost at its next renewal, tells its listeners who holds it now, and never touches their lock', async () => {
    const dir = await tempDataDir();
    const lock = await acquireDataDirLock(dir, { staleMs: 600, renewMs: 50 });
    const losses: LockLoss[] = [];
    lock.onLost((l) => losses.push(l));
    expect(lock.open()).toBe(true);
    takeOverSync(dir);
    const old = new Date(Date.now() - 60_000);
    await utimes(join(dir, 'LOCK'), old, old);
    await sleep(400);
    expect(losses).toHaveLength(1);
    expect(losses[0]?.holder).toMatchObject({ pid: 4242, nonce: 'theirs' });
    expect(lock.lost).not.toBeNull();
    expect(lock.open()).toBe(false);
    await expect(lock.confirm()).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    // Their lock was not renewed by us (the old code touched whatever LOCK was, every renewal).
    expect(Math.round((await stat(join(dir, 'LOCK'))).mtimeMs / 1000)).toBe(Math.round(old.getTime() / 1000));
    await lock();
    expect(JSON.parse(await readFile(join(dir, 'LOCK'), 'utf8')).nonce).toBe('theirs');
    await rm(dir, { recursive: true, force: true });
  });

  it('after a stop past the staleness limit, an append that runs before the overdue renewal writes nothing and is refused; snapshots, trims and the close write nothing either', async () => {
    const dir = await tempDataDir();
    const lock = await acquireDataDirLock(dir, { staleMs: 600, renewMs: 50 });
    const log = new FileCommandLog({ dir: join(dir, 'log'), gate: lock });
    const snaps = new FileSnapshotStore(join(dir, 'snapshots'), { gate: lock });
    let seq = 0;
    for (let i = 1; i <= 3; i++) seq = await log.append('acme', [enqueueEnvelope(`c${i}`)], seq);
    await snaps.save(storedSnapshot('acme', 2));
    const before = await contents(dir);
    // Stopped for longer than the staleness limit; meanwhile another node took the lock over. On
    // resuming, a request's I/O callback runs before the renewal timer: its append comes first.
    stall(700);
    takeOverSync(dir);
    const appended = log.append('acme', [enqueueEnvelope('c4')], seq);
    await expect(appended).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    expect(lock.lost?.holder?.nonce).toBe('theirs');
    await expect(log.append('acme', [enqueueEnvelope('c5')], seq)).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
    });
    await expect(snaps.save(storedSnapshot('acme', 3))).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    await expect(log.trim('acme', 2)).rejects.toMatchObject({ code: 'SB_ERR_UNAVAILABLE' });
    await log.close();
    await snaps.close();
    await lock();
    expect(await contents(dir)).toEqual(before);
    await rm(dir, { recursive: true, force: true });
  });

  it('a stop past the staleness limit with nobody taking over costs one check, not the lock', async () => {
    const dir = await tempDataDir();
    const lock = await acquireDataDirLock(dir, { staleMs: 600, renewMs: 50 });
    const log = new FileCommandLog({ dir: join(dir, 'log'), gate: lock });
    expect(await log.append('acme', [enqueueEnvelope('c1')], 0)).toBe(1);
    stall(700);
    expect(lock.open()).toBe(false);
    expect(await log.append('acme', [enqueueEnvelope('c2')], 1)).toBe(2);
    expect(lock.lost).toBeNull();
    expect(lock.open()).toBe(true);
    await log.close();
    await lock();
    expect((await readdir(dir)).filter((n) => n.startsWith('LOCK'))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it('an in-process node fences itself: every call refused UNAVAILABLE, not ready, a fatal line naming the new holder, and nothing written, its stop included', async () => {
    const fenced: LockLoss[] = [];
    const n = await startInProcessNode(
      { natsUrl: '', nodeId: 'n1', snapshotEvery: 3 },
      { dataDirLock: { staleMs: 600, renewMs: 50 }, onFenced: (l) => fenced.push(l) },
    );
    const base = '/v1/tenants/acme';
    const queue = {
      id: 'q1',
      name: 'q1',
      channel: 'CHANNEL_CHAT',
      strategy: 'STRATEGY_LONGEST_IDLE',
      serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
    };
    const enqueue = (id: string) =>
      n.http('POST', `${base}/conversations`, {
        id,
        channel: 'CHANNEL_CHAT',
        customer: { id: `cust-${id}` },
        queueId: 'q1',
      });
    expect((await n.http('PUT', `${base}/queues/q1`, queue)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await enqueue(`c${i}`)).status).toBe(200);
    // The snapshots (every 3 commands) and their trims settled: two looks 100 ms apart agree.
    let before = await contents(n.dataDir);
    for (let i = 0; i < 50; i++) {
      await sleep(100);
      const now = await contents(n.dataDir);
      if (JSON.stringify(now) === JSON.stringify(before)) break;
      before = now;
    }
    takeOverSync(n.dataDir);
    for (let i = 0; i < 100 && fenced.length === 0; i++) await sleep(20);
    expect(fenced).toHaveLength(1);
    const r = await enqueue('after');
    expect(r.status).toBe(503);
    expect(JSON.stringify(r.body)).toMatch(/SB_ERR_UNAVAILABLE|lost its data directory's lock/);
    expect((await n.http('GET', `${base}/queues/q1/stats`)).status).toBe(503);
    expect((await n.http('GET', '/readyz')).status).toBe(503);
    const fatal = n.lines.find((l) => l.level === 60);
    expect(fatal?.msg).toMatch(/data directory lock lost/);
    expect(fatal?.holder).toMatchObject({ pid: 4242, nonce: 'theirs' });
    await n.node.stop();
    expect(await contents(n.dataDir)).toEqual(before);
    expect(JSON.parse(await readFile(join(n.dataDir, 'LOCK'), 'utf8')).nonce).toBe('theirs');
    await n.stop();
  });
});

/** `unshare -p -f` works here (root, or user namespaces): the second node gets its own PID namespace. */
function canUnshare(): boolean {
  try {
    execFileSync('unshare', ['-p', '-f', '--kill-child', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('real processes: a node stopped (SIGSTOP) past the staleness limit while a second one takes its data directory over', () => {
  const procs: NodeProcess[] = [];
  afterAll(async () => {
    for (const p of procs) {
      try {
        process.kill(p.pid, 'SIGCONT');
      } catch {
        // gone
      }
      await p.kill();
    }
  });
  const env = { SB_TEST_HOOKS: '1', SB_TEST_LOCK_STALE_MS: '1500', SB_TEST_LOCK_RENEW_MS: '100' };

  it.skipIf(!canUnshare())(
    'the first, resumed, writes nothing more to the log or snapshots, answers nothing OK and exits 3; the second serves',
    async () => {
      const dataDir = await tempDataDir();
      const first = await startNodeProcess({ dataDir, env });
      procs.push(first);
      const http = (p: NodeProcess, method: string, path: string, body?: unknown) =>
        fetch(`http://127.0.0.1:${p.httpPort}/v1/tenants/acme${path}`, {
          method,
          headers: { 'content-type': 'application/json' },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(15_000),
        });
      const conv = (id: string) => ({
        id,
        channel: 'CHANNEL_CHAT',
        customer: { id: `cust-${id}` },
        queueId: 'q1',
      });
      expect(
        (
          await http(first, 'PUT', '/queues/q1', {
            id: 'q1',
            name: 'q1',
            channel: 'CHANNEL_CHAT',
            strategy: 'STRATEGY_LONGEST_IDLE',
            serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
          })
        ).status,
      ).toBe(200);
      for (let i = 0; i < 10; i++)
        expect((await http(first, 'POST', '/conversations', conv(`a${i}`))).status).toBe(200);

      process.kill(first.pid, 'SIGSTOP');
      // The second node, in its own PID namespace (another container on the volume): it waits for the
      // lock to go unrenewed for the staleness limit, then takes it over and recovers.
      const second = await startNodeProcess({ dataDir, env, wrap: ['unshare', '-p', '-f', '--kill-child'] });
      procs.push(second);
      // Requests reach the stopped node and wait in its sockets: on SIGCONT their I/O callbacks run
      // before its overdue renewal timer.
      const late = Array.from({ length: 8 }, (_, i) =>
        http(first, 'POST', '/conversations', conv(`late${i}`)).then(
          (r) => r.status,
          () => 'network error',
        ),
      );
      await sleep(300);
      const before = await contents(dataDir);
      const exited = new Promise<number | null>((res) => first.child.once('exit', (code) => res(code)));
      process.kill(first.pid, 'SIGCONT');
      const code = await Promise.race([exited, sleep(10_000).then(() => 'still running')]);
      const statuses = await Promise.all(late);
      expect(code, first.lines().slice(-20).join('\n')).toBe(3);
      expect(statuses.filter((s) => s === 200)).toEqual([]);
      expect(await contents(dataDir)).toEqual(before);
      const fatal = first
        .lines()
        .map((l) => {
          try {
            return JSON.parse(l) as Record<string, unknown>;
          } catch {
            return {};
          }
        })
        .find((l) => l.level === 60);
      expect(fatal?.msg).toMatch(/data directory lock lost/);
      expect(fatal?.holder).toMatchObject({ pid: 1 });

      // The second serves: everything the first acknowledged, and new calls.
      for (let i = 0; i < 10; i++)
        expect((await http(second, 'GET', `/conversations/a${i}`)).status).toBe(200);
      expect((await http(second, 'GET', '/conversations/late0')).status).toBe(404);
      expect((await http(second, 'POST', '/conversations', conv('b0'))).status).toBe(200);
      await second.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    60_000,
  );
});
