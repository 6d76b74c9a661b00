/**
 * Durability under fire: conversations stream into a real node, the node is `kill -9`ed mid-stream,
 * and after a restart every conversation whose enqueue was acknowledged is still there (the reply is
 * released only once the command is durable). Runs with the default `--fsync always`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type NodeProcess, startNodeProcess } from '../support/node-process.js';

let node: NodeProcess | null = null;
afterAll(async () => {
  await node?.dispose();
});

async function post(n: NodeProcess, path: string, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${n.httpPort}/v1/tenants/acme${path}`, {
    method: path.startsWith('/agents/') || path.startsWith('/queues/') ? 'PUT' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

describe('kill -9 under load', () => {
  it('loses no acknowledged conversation', async () => {
    node = await startNodeProcess();
    const n = node;
    expect(
      (
        await post(n, '/queues/chat-billing', {
          id: 'chat-billing',
          name: 'Billing chat',
          channel: 'CHANNEL_CHAT',
          strategy: 'STRATEGY_LEAST_BUSY',
          serviceLevel: { target: 0.8, thresholdSeconds: 20, windowSeconds: 3600 },
        })
      ).status,
    ).toBe(200);
    const acknowledged: string[] = [];
    let stop = false;
    let sent = 0;
    const client = async (c: number) => {
      for (let i = 0; !stop; i++) {
        const id = `conv-${c}-${i}`;
        sent++;
        try {
          const res = await post(n, '/conversations', {
            id,
            channel: 'CHANNEL_CHAT',
            customer: { id: `cust-${id}` },
            queueId: 'chat-billing',
          });
          if (res.status === 200) acknowledged.push(id);
        } catch {
          return; // the node is gone
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, c) => client(c));
    while (acknowledged.length < 200) await new Promise((r) => setTimeout(r, 10));
    await n.kill();
    stop = true;
    await Promise.all(clients);
    node = await n.restart();
    const missing: string[] = [];
    for (const id of acknowledged) {
      const res = await fetch(`http://127.0.0.1:${node.httpPort}/v1/tenants/acme/conversations/${id}`);
      if (res.status !== 200) missing.push(id);
    }
    console.log(
      `[crash-durability] ${sent} sent, ${acknowledged.length} acknowledged before kill -9, ${missing.length} missing after restart`,
    );
    expect(missing).toEqual([]);
  });
});
