/**
 * Embedded mode's side of the log chain (see test/cluster/log-chain.test.ts): the file log's seqs are
 * contiguous, so a batch's predecessor is its seq − 1, and a load whose first batch after the snapshot does
 * not follow it — the snapshot file lost or deleted after a trim — refuses the partition instead of
 * replaying the tail onto an empty tenant.
 */
import { copyFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { conversation } from '../../src/engine/fixtures.js';
import { waitFor } from '../support/wait-for.js';
import { billingDesk, type Harness, hostsOfThisFile } from './harness.js';

const host = hostsOfThisFile();

/** Captures the host's log lines as objects. */
function logged(): { lines: Record<string, unknown>[]; logger: pino.Logger } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) }) };
}

async function snapshotFile(dir: string): Promise<string> {
  const files = (await readdir(join(dir, 'snapshots'))).filter((f) => f.endsWith('.snap'));
  expect(files).toEqual(['acme.snap']);
  return join(dir, 'snapshots', files[0] as string);
}

async function enqueue(h: Harness, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) {
    const r = await h.send('acme', {
      type: 'enqueue',
      conversation: conversation(`conv-${i}`, { queueId: 'chat-billing' }),
    });
    expect(r.ok).toBe(true);
  }
}

async function firstSeq(h: Harness): Promise<number> {
  for await (const b of h.ports.log.read('acme', 0)) return b.seq;
  return 0;
}

const REFUSED_LINE = 'partition refused: its command log was trimmed past the snapshot this node can load';

describe('an embedded partition whose snapshot file is gone after the log was trimmed below it', () => {
  it('is refused (UNAVAILABLE, error line, gauge, nothing appended), and served whole once the snapshot is back', async () => {
    // Snapshots every 10 commands, each trimming the log; a crash leaves a tail after the last one.
    const a = await host({ snapshotEveryCommands: 10 });
    await billingDesk(a, 'acme', 3);
    await enqueue(a, 1, 12);
    const expected = await a.digest('acme');
    // The snapshot's trim is done when the log no longer starts at its first batch.
    await waitFor(async () => (await firstSeq(a)) > 1, { what: 'a snapshot and its trim' });
    await a.crash();
    const snap = await snapshotFile(a.dir);
    const kept = `${a.dir}/kept.snap`;
    await copyFile(snap, kept);
    await rm(snap);

    const { lines, logger } = logged();
    const b = await host({ dir: a.dir, logger });
    const lastSeq = await b.ports.log.lastSeq('acme');
    for (let call = 0; call < 3; call++) {
      await expect(b.digest('acme')).rejects.toMatchObject({
        code: 'SB_ERR_UNAVAILABLE',
        message: expect.stringMatching(
          /its command log was trimmed past the snapshot this node can load \(snapshot seq 0; the log resumes after seq \d+\)/,
        ),
      });
    }
    await expect(b.send('acme', { type: 'cancel', conversationId: 'conv-1' })).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
    });
    expect(await b.ports.log.lastSeq('acme')).toBe(lastSeq);
    const refused = lines.filter((l) => l.msg === REFUSED_LINE);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 50, tenant: 'acme', snapshotSeq: 0 });
    expect(refused[0]?.logResumesAfterSeq as number).toBeGreaterThan(0);
    expect(await b.registry.getSingleMetricAsString('switchboard_partitions_refused')).toMatch(
      /\nswitchboard_partitions_refused 1\n?$/,
    );
    await b.crash();

    // The way out: restore the snapshot (or point the node at the right data directory).
    await copyFile(kept, snap);
    const c = await host({ dir: a.dir });
    expect(await c.digest('acme')).toBe(expected);
    const r = await c.host.query('acme', { type: 'conversation', conversationId: 'conv-12' });
    expect(r.type === 'conversation' && r.conversation?.id).toBe('conv-12');
    await c.stop();
  }, 30_000);

  it('is refused too when the trim left nothing after the snapshot', async () => {
    const a = await host({ snapshotEveryCommands: 1_000_000 });
    await billingDesk(a, 'acme', 2);
    await enqueue(a, 1, 3);
    // A graceful stop snapshots at the log's end and trims everything below it.
    await a.stop();
    await rm(await snapshotFile(a.dir));
    const { lines, logger } = logged();
    const b = await host({ dir: a.dir, logger });
    await expect(b.digest('acme')).rejects.toMatchObject({
      code: 'SB_ERR_UNAVAILABLE',
      message: expect.stringMatching(/snapshot seq 0; the log holds nothing after it but ends at seq \d+/),
    });
    expect(lines.filter((l) => l.msg === REFUSED_LINE)).toHaveLength(1);
    await b.crash();
  }, 30_000);
});
