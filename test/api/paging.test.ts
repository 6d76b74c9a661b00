/**
 * The list methods a page at a time (AIP-158): `pageSize` (0 = the default, at most 1000) and
 * `pageToken` in, `nextPageToken` ('' on the last page) and `totalSize` out, over gRPC and HTTP. A tenant
 * may have 100 000 agents: before paging, ListAgents and ListAgentStats answered all of them at once.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Command } from '../../src/engine/types.js';
import { agent, conversation, queue } from '../support/engine-builders.js';
import { call, callError, type Harness, http, startHarness, TOKENS } from './support/harness.js';

const ALL = Array.from({ length: 2500 }, (_, i) => `agent-${String(i).padStart(4, '0')}`);
const base = '/v1/tenants/acme';

let h: Harness;
let n = 0;
function given(tenant: string, cmd: Command): void {
  const r = h.router.engine(tenant).apply({ id: `seed-${++n}`, at: Date.now(), cmd });
  if (!r.ok) throw new Error(r.error.message);
}

beforeAll(async () => {
  h = await startHarness();
  given('acme', { type: 'upsert_queue', queue: queue('voice', { channel: 'voice' }) });
  // Created in a scrambled order: the pages come by id whatever the creation order.
  for (let i = 0; i < ALL.length; i++) {
    const id = ALL[(i * 7919) % ALL.length]!;
    const k = Number(id.slice(-4));
    given('acme', {
      type: 'upsert_agent',
      agent: agent(id, {
        teams: k % 5 === 0 ? ['night'] : [],
        capacity: k % 2 === 0 ? { chat: 2, voice: 1 } : { chat: 2 },
      }),
    });
  }
  given('globex', { type: 'upsert_agent', agent: agent('g-1') });
  given('globex', { type: 'upsert_agent', agent: agent('g-2') });
});
afterAll(async () => {
  await h?.close();
});

interface Page {
  nextPageToken: string;
  totalSize: number;
}

/** Every page of an HTTP list, following nextPageToken; the ids in the order they came. */
async function walkHttp(
  path: string,
  size: string,
  ids: (body: unknown) => string[],
): Promise<{ seen: string[]; pages: number; totals: number[] }> {
  const seen: string[] = [];
  const totals: number[] = [];
  let token = '';
  for (let pages = 1; pages < 100; pages++) {
    const q = new URLSearchParams(size === '' ? {} : { pageSize: size });
    if (token !== '') q.set('pageToken', token);
    const r = await http(h, 'GET', `${path}${q.size > 0 ? `?${q}` : ''}`);
    expect(r.status, r.text).toBe(200);
    seen.push(...ids(r.body));
    const p = r.body as Partial<Page>;
    totals.push(p.totalSize ?? 0);
    token = p.nextPageToken ?? '';
    if (token === '') return { seen, pages, totals };
  }
  throw new Error('no last page');
}

const agentIds = (b: unknown) => (b as { agents?: { id: string }[] }).agents?.map((a) => a.id) ?? [];
const statIds = (b: unknown) => (b as { stats?: { agentId: string }[] }).stats?.map((s) => s.agentId) ?? [];

describe('paging through the lists', () => {
  it('paging through 2 500 agents returns each exactly once, by id (HTTP and gRPC)', async () => {
    const byThousand = await walkHttp(`${base}/agents`, '1000', agentIds);
    expect(byThousand.seen).toEqual(ALL);
    expect(byThousand.pages).toBe(3);
    expect(byThousand.totals).toEqual([2500, 2500, 2500]);
    // No page size: 500 a page (the field absent is 0, the default).
    const byDefault = await walkHttp(`${base}/agents`, '', agentIds);
    expect(byDefault.seen).toEqual(ALL);
    expect(byDefault.pages).toBe(5);
    expect((await walkHttp(`${base}/agent-stats`, '999', statIds)).seen).toEqual(ALL);

    const seen: string[] = [];
    let pageToken = '';
    do {
      const r = await call(h.stats, h.stats.listAgentStats, {
        tenant: 'acme',
        requestId: '',
        queueId: '',
        team: '',
        pageSize: 700,
        pageToken,
      });
      expect(r.stats.length).toBeLessThanOrEqual(700);
      expect(r.totalSize).toBe(2500);
      seen.push(...r.stats.map((s) => s.agentId));
      pageToken = r.nextPageToken;
    } while (pageToken !== '');
    expect(seen).toEqual(ALL);
  });

  it('filtered agent statistics page over the matching agents only, with their count', async () => {
    const voice = ALL.filter((id) => Number(id.slice(-4)) % 2 === 0);
    const night = ALL.filter((id) => Number(id.slice(-4)) % 5 === 0);
    const v = await walkHttp(`${base}/queues/voice/agent-stats`, '400', statIds);
    expect(v.seen).toEqual(voice);
    expect(v.totals[0]).toBe(1250);
    const t = await walkHttp(`${base}/teams/night/agent-stats`, '', statIds);
    expect(t.seen).toEqual(night);
    expect(t).toMatchObject({ pages: 1, totals: [500] });
  });

  it('the proto spelling page_size / page_token works in query strings; both spellings at once are refused', async () => {
    const first = await http(h, 'GET', `${base}/agents?page_size=2`);
    expect(agentIds(first.body)).toEqual(ALL.slice(0, 2));
    const token = (first.body as Page).nextPageToken;
    const second = await http(h, 'GET', `${base}/agents?page_size=2&page_token=${token}`);
    expect(agentIds(second.body)).toEqual(ALL.slice(2, 4));
    const twice = await http(h, 'GET', `${base}/agents?page_size=2&pageSize=3`);
    expect(twice.status).toBe(400);
    expect(twice.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'pageSize' } });
  });

  it('queues and queue statistics page the same way; the last page has an empty nextPageToken', async () => {
    for (const id of ['q3', 'q1', 'q2']) given('globex', { type: 'upsert_queue', queue: queue(id) });
    const one = await call(
      h.admin,
      h.admin.listQueues,
      { tenant: 'globex', requestId: '', pageSize: 2, pageToken: '' },
      TOKENS.globex,
    );
    expect(one.queues.map((q) => q.id)).toEqual(['q1', 'q2']);
    expect(one.totalSize).toBe(3);
    const two = await call(
      h.admin,
      h.admin.listQueues,
      { tenant: 'globex', requestId: '', pageSize: 2, pageToken: one.nextPageToken },
      TOKENS.globex,
    );
    expect(two).toMatchObject({ queues: [{ id: 'q3' }], nextPageToken: '', totalSize: 3 });
    const all = await http(h, 'GET', '/v1/tenants/globex/queue-stats', undefined, TOKENS.globex);
    expect(all.body).toMatchObject({ stats: [{ queueId: 'q1' }, { queueId: 'q2' }, { queueId: 'q3' }] });
    // proto3 JSON leaves out an empty string: no nextPageToken at all on the last page.
    expect((all.body as Partial<Page>).nextPageToken ?? '').toBe('');
  });
});

describe('bad pages', () => {
  it('a page size below 0 or above 1000, or not an integer, is 400 / INVALID_ARGUMENT naming pageSize', async () => {
    for (const size of ['-1', '1001', '1e9', 'ten', '2.5']) {
      for (const path of [`${base}/agents`, `${base}/agent-stats`, `${base}/queues`, `${base}/queue-stats`]) {
        const r = await http(h, 'GET', `${path}?pageSize=${size}`);
        expect(r.status, `${path} ${size}`).toBe(400);
        expect(r.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'pageSize' } });
      }
    }
    const err = await callError(h.admin, h.admin.listAgents, {
      tenant: 'acme',
      requestId: '',
      pageSize: -5,
      pageToken: '',
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.metadata.get('sb-field')).toEqual(['pageSize']);
    expect(err.details).toMatch(/pageSize: must be between 0 and 1000/);
  });

  it('a malformed page token is 400 / INVALID_ARGUMENT naming pageToken', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const good = { v: 1, k: 'agents', t: 'acme', f: [], a: 'agent-0001' };
    for (const token of [
      'not a token',
      '%%%',
      'x'.repeat(2000),
      Buffer.from('not json').toString('base64url'),
      b64([1, 2]),
      b64({ ...good, v: 2 }),
      b64({ ...good, a: '' }),
      b64({ ...good, a: 'has space' }),
      b64({ ...good, f: 'x' }),
    ]) {
      const r = await http(h, 'GET', `${base}/agents?pageToken=${encodeURIComponent(token)}`);
      expect(r.status, token).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'pageToken' } });
    }
    const err = await callError(h.stats, h.stats.listAgentStats, {
      tenant: 'acme',
      requestId: '',
      queueId: '',
      team: '',
      pageSize: 0,
      pageToken: 'garbage',
    });
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.metadata.get('sb-field')).toEqual(['pageToken']);
    // A token the node made still works.
    expect(
      await http(h, 'GET', `${base}/agents?pageSize=1&pageToken=${b64(good)}`).then((r) => agentIds(r.body)),
    ).toEqual(['agent-0002']);
  });

  it('a token of another tenant, another list or other filters is refused, not read as a cursor there', async () => {
    const tokenOf = async (path: string, token = TOKENS.acme) => {
      const r = await http(h, 'GET', `${path}?pageSize=1`, undefined, token);
      expect(r.status, r.text).toBe(200);
      const t = (r.body as Page).nextPageToken;
      expect(t).not.toBe('');
      return t;
    };
    const globexAgents = await tokenOf('/v1/tenants/globex/agents', TOKENS.globex);
    const acmeAgents = await tokenOf(`${base}/agents`);
    const acmeNight = await tokenOf(`${base}/teams/night/agent-stats`);
    for (const [path, token] of [
      [`${base}/agents`, globexAgents], // another tenant's
      [`${base}/agent-stats`, acmeAgents], // ListAgents' token on ListAgentStats
      [`${base}/agent-stats`, acmeNight], // the team filter dropped
      [`${base}/queues/voice/agent-stats`, acmeNight], // another filter
      [`${base}/queue-stats`, acmeAgents],
    ] as const) {
      const r = await http(h, 'GET', `${path}?pageToken=${token}`);
      expect(r.status, path).toBe(400);
      expect(r.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'pageToken' } });
    }
    expect(
      agentIds((await http(h, 'GET', `${base}/agents?pageSize=1&pageToken=${acmeAgents}`)).body),
    ).toEqual(['agent-0001']);
  });
});

it('pages stay consistent while agents are added and removed between them', async () => {
  const t = 'acme';
  const ids = Array.from({ length: 300 }, (_, i) => `a${String(i).padStart(3, '0')}`);
  for (const id of ids) given(t, { type: 'upsert_agent', agent: agent(id) });
  const removed = new Set<string>();
  const seen: string[] = [];
  let token = '';
  let page = 0;
  do {
    const r = await http(
      h,
      'GET',
      `/v1/tenants/${t}/agents?pageSize=50${token ? `&pageToken=${token}` : ''}`,
      undefined,
      'tok-admin',
    );
    expect(r.status, r.text).toBe(200);
    seen.push(...agentIds(r.body));
    token = (r.body as Partial<Page>).nextPageToken ?? '';
    // Between pages: one listed and one not yet listed go, ids before and after the cursor come.
    for (const id of [ids[page * 50 + 5]!, ids[(page * 50 + 120) % 300]!]) {
      if (removed.has(id)) continue;
      removed.add(id);
      await http(h, 'DELETE', `/v1/tenants/${t}/agents/${id}`, undefined, 'tok-admin');
    }
    given(t, { type: 'upsert_agent', agent: agent(`${ids[page * 50 + 1]!}x`) });
    given(t, { type: 'upsert_agent', agent: agent(`${ids[(page * 50 + 200) % 300]!}x`) });
    page++;
  } while (token !== '');
  expect(new Set(seen).size).toBe(seen.length);
  for (const id of ids) if (!removed.has(id)) expect(seen).toContain(id);
});

describe('paging through a waiting line', () => {
  it('a waiting line of 2 500 pages through to its end while it moves (HTTP and gRPC)', async () => {
    // A queue nobody staffs: its line only grows, but customers leave from anywhere in it.
    given('acme', { type: 'upsert_queue', queue: queue('long') });
    given('acme', { type: 'upsert_queue', queue: queue('other') });
    const line: string[] = [];
    for (let i = 0; i < 2500; i++) {
      const id = `w${String(i).padStart(4, '0')}`;
      line.push(id);
      given('acme', { type: 'enqueue', conversation: conversation(id, 'long') });
    }
    const path = '/v1/tenants/acme/queues/long/waiting';
    const convIds = (b: unknown) =>
      (b as { conversations?: { id: string }[] }).conversations?.map((c) => c.id) ?? [];
    // Before paging, a supervisor saw the first 1000 and no way on.
    const first = await http(h, 'GET', `${path}?pageSize=1000`, undefined, TOKENS.acme);
    expect(first.status, first.text).toBe(200);
    expect(convIds(first.body)).toEqual(line.slice(0, 1000));
    expect(first.body).toMatchObject({ totalWaiting: 2500, nextPageToken: expect.any(String) });
    // The customers served or leaving ahead of the cursor do not shift the next page: it goes on after
    // the last one seen, with live positions.
    for (const id of ['w0000', 'w0500', 'w0999', 'w1000', 'w2499'])
      given('acme', { type: 'cancel', conversationId: id });
    const second = await http(
      h,
      'GET',
      `${path}?pageSize=1000&pageToken=${(first.body as Page).nextPageToken}`,
      undefined,
      TOKENS.acme,
    );
    expect(second.status, second.text).toBe(200);
    expect(convIds(second.body)).toEqual(line.slice(1001, 2001));
    const b2 = second.body as { conversations: { position: number }[]; totalWaiting: number } & Page;
    expect(b2.conversations[0]!.position).toBe(998); // 1002 less the four who left ahead of it
    expect(b2.totalWaiting).toBe(2495);
    // The last page over gRPC, the proto's spelling: no next_page_token.
    const third = await call(
      h.gateway,
      h.gateway.listWaiting,
      { tenant: 'acme', requestId: '', queueId: 'long', pageSize: 1000, pageToken: b2.nextPageToken },
      TOKENS.acme,
    );
    expect(third.conversations.map((c) => c.id)).toEqual(line.slice(2001, 2499));
    expect(third.nextPageToken).toBe('');
    // A token is for its own queue and method.
    const wrongQueue = await http(
      h,
      'GET',
      `/v1/tenants/acme/queues/other/waiting?pageToken=${b2.nextPageToken}`,
      undefined,
      TOKENS.acme,
    );
    expect(wrongQueue.status).toBe(400);
    expect(wrongQueue.body).toMatchObject({ error: { code: 'SB_ERR_INVALID_ARGUMENT', field: 'pageToken' } });
    const agentsToken = (await http(h, 'GET', `${base}/agents?pageSize=1`)).body as Page;
    const wrongList = await callError(h.gateway, h.gateway.listWaiting, {
      tenant: 'acme',
      requestId: '',
      queueId: 'voice',
      pageSize: 10,
      pageToken: agentsToken.nextPageToken,
    });
    expect(wrongList.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(wrongList.details).toMatch(/pageToken/);
  });
});
