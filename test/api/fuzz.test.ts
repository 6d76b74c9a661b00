/**
 * Fuzzing the API with malformed and random requests: random protobuf bytes and random field values on
 * gRPC, random JSON bodies and paths on HTTP. Every answer must be a client-error status of the right
 * kind (never INTERNAL / 5xx, never a crash); afterwards the node is still healthy and the tenant's
 * engine digest is unchanged, because a rejected call changes nothing.
 *
 * Runs: SB_FUZZ_RUNS per property (default 300; four properties → 1 200 requests).
 */
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdminServiceService,
  SetRoutingConfigRequest,
  UpsertAgentRequest,
  UpsertQueueRequest,
} from '../../src/gen/switchboard/v1/admin.js';
import { AgentDeskServiceService, SetPresenceRequest } from '../../src/gen/switchboard/v1/agent_desk.js';
import {
  EnqueueRequest,
  GatewayServiceService,
  TransferRequest,
} from '../../src/gen/switchboard/v1/gateway.js';
import { StatisticsServiceService } from '../../src/gen/switchboard/v1/statistics.js';
import { chat, chatAgent } from './support/fixtures.js';
import {
  ADMIN_TOKEN,
  bearer,
  billingDesk,
  call,
  type Harness,
  http,
  startHarness,
  TOKENS,
} from './support/harness.js';

const RUNS = Number(process.env.SB_FUZZ_RUNS ?? 300);
const T = 'acme';
const SERVER_FAULTS = new Set([
  grpc.status.UNKNOWN,
  grpc.status.INTERNAL,
  grpc.status.UNAVAILABLE,
  grpc.status.DATA_LOSS,
  grpc.status.UNIMPLEMENTED,
  grpc.status.DEADLINE_EXCEEDED,
]);

let h: Harness;
let raw: grpc.Client;
let digestBefore: string;
let requests = 0;

const UNARY_PATHS: string[] = [
  AdminServiceService,
  AgentDeskServiceService,
  GatewayServiceService,
  StatisticsServiceService,
].flatMap((def) => Object.values(def).map((m) => m.path));

function rawCall(path: string, bytes: Uint8Array, token: string | null): Promise<grpc.status> {
  requests++;
  return new Promise((resolve) => {
    raw.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(bytes),
      bearer(token),
      { deadline: Date.now() + 5_000 },
      (err) => resolve(err ? (err.code as grpc.status) : grpc.status.OK),
    );
  });
}

beforeAll(async () => {
  h = await startHarness();
  await billingDesk(h, T, [chatAgent('ana')], true);
  await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('seen-1') });
  await call(h.gateway, h.gateway.enqueue, { tenant: T, requestId: '', conversation: chat('seen-2') });
  raw = new grpc.Client(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure());
  digestBefore = h.router.digest(T);
});

afterAll(async () => {
  raw?.close();
  await h.close();
});

// ---- arbitraries ---------------------------------------------------------------------------------

const anyString = fc.oneof(
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.constantFrom('', 'acme', 'ana', 'billing', 'seen-1', 'a b', 'x'.repeat(200), '../etc', 'lang:fr'),
);
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const smallInt = fc.integer({ min: -3, max: 12 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const anyDouble = fc.double();
const enumValue = fc.integer({ min: -1, max: 9 });

const skillLevels = fc.array(fc.record({ skill: anyString, level: fc.oneof(smallInt, int32) }), {
  maxLength: 4,
});
const skillReqs = fc.array(fc.record({ skill: anyString, minLevel: fc.oneof(smallInt, int32) }), {
  maxLength: 4,
});

/** A request with random values and one field that is certainly invalid, encoded as protobuf. */
type Case = { path: string; bytes: Uint8Array };

const enqueueCase = fc
  .record({
    tenant: anyString,
    requestId: anyString,
    conversation: fc.record({
      id: anyString,
      channel: enumValue,
      customer: fc.option(fc.record({ id: anyString, valueTier: enumValue }), { nil: undefined }),
      requiredSkills: skillReqs,
      queueId: fc.option(anyString, { nil: undefined }),
      topic: fc.option(anyString, { nil: undefined }),
      priority: fc.oneof(smallInt, int32),
    }),
    corrupt: fc.constantFrom('priority', 'id', 'channel', 'customer'),
  })
  .map(({ corrupt, ...req }): Case => {
    const c = req.conversation;
    if (corrupt === 'priority') c.priority = 11 + Math.abs(c.priority % 1000);
    if (corrupt === 'id') c.id = 'has space';
    if (corrupt === 'channel') c.channel = 0;
    if (corrupt === 'customer') c.customer = undefined;
    return {
      path: GatewayServiceService.enqueue.path,
      bytes: EnqueueRequest.encode(req as EnqueueRequest).finish(),
    };
  });

const agentCase = fc
  .record({
    tenant: anyString,
    requestId: anyString,
    agent: fc.record({
      id: anyString,
      displayName: anyString,
      skills: skillLevels,
      teams: fc.array(anyString, { maxLength: 3 }),
      tier: fc.oneof(smallInt, int32),
      seniority: enumValue,
      capacity: fc.dictionary(anyString, fc.oneof(smallInt, int32), { maxKeys: 3 }),
      wrapUpSeconds: uint32,
      queues: fc.array(anyString, { maxLength: 3 }),
    }),
    corrupt: fc.constantFrom('level', 'capacity', 'tier', 'name'),
  })
  .map(({ corrupt, ...req }): Case => {
    const a = req.agent;
    if (corrupt === 'level') a.skills = [...a.skills, { skill: 'billing', level: 0 }];
    if (corrupt === 'capacity') a.capacity = { ...a.capacity, fax: 1 };
    if (corrupt === 'tier') a.tier = 11;
    if (corrupt === 'name') a.displayName = '';
    return {
      path: AdminServiceService.upsertAgent.path,
      bytes: UpsertAgentRequest.encode(req as UpsertAgentRequest).finish(),
    };
  });

const queueCase = fc
  .record({
    tenant: anyString,
    requestId: anyString,
    queue: fc.record({
      id: anyString,
      name: anyString,
      channel: enumValue,
      requiredSkills: skillReqs,
      strategy: enumValue,
      onlineOnly: fc.boolean(),
      broadcastWidth: int32,
      priority: smallInt,
      serviceLevel: fc.option(
        fc.record({ target: anyDouble, thresholdSeconds: uint32, windowSeconds: uint32 }),
        { nil: undefined },
      ),
      maxSize: uint32,
      offerTimeoutSeconds: uint32,
      overflow: fc.array(
        fc.record({
          afterSeconds: uint32,
          action: fc.option(
            fc.record({ relaxSkills: fc.option(fc.record({ by: int32 }), { nil: undefined }) }),
            {
              nil: undefined,
            },
          ),
        }),
        { maxLength: 3 },
      ),
      previousAgentWaitSeconds: uint32,
      newCustomersToNewAgents: fc.boolean(),
    }),
    corrupt: fc.constantFrom('strategy', 'target', 'priority'),
  })
  .map(({ corrupt, ...req }): Case => {
    const q = req.queue;
    if (corrupt === 'strategy') q.strategy = 0;
    if (corrupt === 'target') q.serviceLevel = { target: Number.NaN, thresholdSeconds: 10, windowSeconds: 0 };
    if (corrupt === 'priority') q.priority = 11;
    return {
      path: AdminServiceService.upsertQueue.path,
      bytes: UpsertQueueRequest.encode(req as UpsertQueueRequest).finish(),
    };
  });

const smallCases = fc.oneof(
  fc.record({ tenant: anyString, requestId: anyString, agentId: anyString }).map(
    (r): Case => ({
      path: AgentDeskServiceService.setPresence.path,
      bytes: SetPresenceRequest.encode({ ...r, presence: 0 }).finish(),
    }),
  ),
  fc.record({ tenant: anyString, requestId: anyString, conversationId: anyString }).map(
    (r): Case => ({
      path: GatewayServiceService.transfer.path,
      bytes: TransferRequest.encode({ ...r, toQueueId: undefined, toAgentId: undefined }).finish(),
    }),
  ),
  fc
    .record({ tenant: anyString, requestId: anyString, maxMissedOffers: int32, agingPerMinute: anyDouble })
    .map(
      (r): Case => ({
        path: AdminServiceService.setRoutingConfig.path,
        bytes: SetRoutingConfigRequest.encode({
          tenant: r.tenant,
          requestId: r.requestId,
          config: {
            maxMissedOffers: r.maxMissedOffers,
            agingPerMinute: r.agingPerMinute,
            slaDrivenPriority: false,
            queueRules: [],
            slaAtRiskMargin: 5,
          },
        }).finish(),
      }),
    ),
);

const tokenChoice = fc.constantFrom<'admin' | 'none' | 'other'>('admin', 'admin', 'admin', 'none', 'other');

// ---- properties ----------------------------------------------------------------------------------

describe('fuzzing the API with malformed and random requests', () => {
  it('random protobuf bytes on every gRPC method never get a server-fault status', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...UNARY_PATHS),
        fc.uint8Array({ maxLength: 300 }),
        tokenChoice,
        async (path, bytes, tok) => {
          const token = tok === 'admin' ? ADMIN_TOKEN : tok === 'other' ? TOKENS.globex : null;
          const code = await rawCall(path, bytes, token);
          expect(SERVER_FAULTS.has(code), `${path} answered ${grpc.status[code]}`).toBe(false);
          if (tok === 'none') expect(code).toBe(grpc.status.UNAUTHENTICATED);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('random field values with one invalid field get exactly the auth or INVALID_ARGUMENT status', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(enqueueCase, agentCase, queueCase, smallCases),
        tokenChoice,
        async (c, tok) => {
          const token = tok === 'admin' ? ADMIN_TOKEN : tok === 'other' ? TOKENS.globex : null;
          const code = await rawCall(c.path, c.bytes, token);
          if (tok === 'none') expect(code).toBe(grpc.status.UNAUTHENTICATED);
          else if (tok === 'admin') expect(grpc.status[code]).toBe('INVALID_ARGUMENT');
          else expect([grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED]).toContain(code);
        },
      ),
      { numRuns: RUNS },
    );
  });

  const routes = [
    ['POST', '/v1/tenants/{t}/conversations'],
    ['PUT', '/v1/tenants/{t}/agents/{id}'],
    ['PUT', '/v1/tenants/{t}/queues/{id}'],
    ['POST', '/v1/tenants/{t}/agents/{id}/presence'],
    ['POST', '/v1/tenants/{t}/conversations/{id}:transfer'],
    ['POST', '/v1/tenants/{t}/conversations/{id}:escalate'],
    ['POST', '/v1/tenants/{t}/conversations/{id}:assign'],
    ['POST', '/v1/tenants/{t}/conversations/{id}:end'],
    ['GET', '/v1/tenants/{t}/conversations/{id}'],
    ['GET', '/v1/tenants/{t}/queues/{id}/stats'],
    ['DELETE', '/v1/tenants/{t}/agents/{id}'],
    ['PATCH', '/v1/tenants/{t}/agents/{id}'],
    ['POST', '/v1/{t}/{id}'],
  ] as const;
  /** Ids that name nothing in the tenant (so a random body cannot make a valid call on a real record). */
  const absentId = fc.oneof(
    fc.string({ maxLength: 16 }).map((s) => `zz-${s}`),
    fc.constantFrom('', 'a b', '%E0%A4%A', '..', 'x'.repeat(300)),
  );
  const jsonBody = fc.oneof(
    fc.json({ maxDepth: 3 }),
    fc
      .jsonValue({ maxDepth: 3 })
      .map((v) => JSON.stringify({ conversation: v, agent: v, queue: v, presence: v, outcome: v })),
    fc.string({ maxLength: 60 }),
    fc.constantFrom(
      '{',
      '[]',
      'null',
      '{"priority":"abc"}',
      '{"toTier":"x"}',
      '{"presence":"PRESENCE_NOPE"}',
    ),
  );

  it('random JSON bodies and paths on HTTP get a 4xx error body, never a 5xx or a stack trace', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.constantFrom('acme', 'acme', 'globex', 'no such/tenant'),
        absentId,
        jsonBody,
        fc.constantFrom<'admin' | 'own' | 'none'>('admin', 'own', 'own', 'none'),
        async ([method, template], tenant, id, body, tok) => {
          const path = template
            .replace('{t}', encodeURIComponent(tenant))
            .replace('{id}', id.startsWith('%') ? id : encodeURIComponent(id));
          const token = tok === 'admin' ? ADMIN_TOKEN : tok === 'own' ? TOKENS.acme : null;
          requests++;
          const r = await http(
            h,
            method,
            path,
            method === 'GET' || method === 'DELETE' ? undefined : body,
            token,
          );
          expect(r.status, `${method} ${path} → ${r.text}`).toBeGreaterThanOrEqual(400);
          expect(r.status, `${method} ${path} → ${r.text}`).toBeLessThan(500);
          const err = (r.body as { error?: { code?: string; message?: string } } | null)?.error;
          expect(err?.code, r.text).toMatch(/^SB_ERR_/);
          expect(r.text).not.toMatch(/\bat .+\.(ts|js):\d+/);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('random JSON values in the body of every write route are rejected as 4xx', async () => {
    const writeRoutes = [
      ['POST', `/v1/tenants/${T}/conversations`],
      ['PUT', `/v1/tenants/${T}/queues/zz-q`],
      ['PUT', `/v1/tenants/${T}/agents/zz-a`],
      ['PUT', `/v1/tenants/${T}/routing-config`],
    ] as const;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...writeRoutes),
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }),
          // fc.stringify, not String(): `anything` makes objects such as {toString: 0} that String() throws on.
          fc.anything({ maxDepth: 3 }).map((v) => fc.stringify(v)),
        ),
        async ([method, path], value) => {
          // Routing settings are all-optional, so corrupt one field to keep the request invalid.
          const body =
            path.endsWith('routing-config') &&
            typeof value === 'object' &&
            value !== null &&
            !Array.isArray(value)
              ? { ...value, slaAtRiskMargin: 7 }
              : path.endsWith('routing-config')
                ? { value, maxMissedOffers: -1 }
                : value;
          requests++;
          const r = await http(h, method, path, JSON.stringify(body));
          expect(
            r.status,
            `${method} ${path} ${JSON.stringify(body).slice(0, 200)} → ${r.text}`,
          ).toBeGreaterThanOrEqual(400);
          expect(r.status, r.text).toBeLessThan(500);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('afterwards the node is healthy and the tenant state is exactly what it was', async () => {
    expect(requests).toBeGreaterThanOrEqual(Math.min(1000, RUNS * 4));
    expect((await http(h, 'GET', '/healthz')).status).toBe(200);
    expect((await http(h, 'GET', '/readyz')).status).toBe(200);
    const agent = await call(h.admin, h.admin.getAgent, { tenant: T, requestId: '', agentId: 'ana' });
    expect(agent.agent?.id).toBe('ana');
    expect(h.router.digest(T)).toBe(digestBefore);
  });
});
