/**
 * `npm run chaos` — failover with nothing lost, on one machine.
 *
 * Starts its own NATS (JetStream, sync always) and 3 router nodes (loadtest/lib/cluster.ts), sets up
 * tenants with chat agents, then drives steady enqueue load through all nodes (each assigned conversation
 * is ended after a short talk). Mid-load it `kill -9`s the node holding the most tenant leases; later it
 * freezes (`SIGSTOP`) the surviving node holding the most leases for longer than its lease TTL, then
 * wakes it (`SIGCONT`): a stop-the-world pause or a suspended VM, after which the node wakes up believing
 * it still owns its tenants, with requests half done; later again it `kill -9`s and restarts the NATS
 * server. Then it checks:
 *  - every acknowledged conversation exists on the cluster (asked through the surviving nodes) and is
 *    waiting, offered, assigned, wrapping up or closed — otherwise it is `lost`;
 *  - from the durable event stream `SB_EVENTS`: no conversation was ever assigned to two agents at once
 *    (`double_assigned`), no agent ever held more chat conversations than its capacity (`over_capacity`);
 *  - `events_missing`: acknowledged conversations whose events (the enqueue's outcome, `assigned` for one
 *    acknowledged as assigned, and `conversation_ended`
 *    once the end was acknowledged) are not in `SB_EVENTS`;
 *  - `failover_ms`: for the killed node's tenants, the longest time from the kill until a call issued
 *    after it succeeded; `freeze_failover_ms` the same for the frozen node's tenants from the freeze, and
 *    `freeze_takeovers` how many of them another node took over meanwhile (all, or the run fails);
 *  - `lost` also counts a conversation less far along than acknowledged: an acknowledged end not wrapping
 *    up or closed, an acknowledged assignment back to waiting or with another agent;
 * Snapshots are taken every `--snapshot-seconds` (default 4), so the takeover loads a snapshot and replays
 * only the log after it, as in production; `--snapshots` picks the store: `mongo` (MongoDB at `MONGO_URL`,
 * or a FerretDB this script starts, as the tests do), `jetstream`, or `auto` (default: mongo where one of
 * those is available, else jetstream, saying why). The nodes' `partition recovered` log lines after the
 * kill show where each takeover started (`takeovers_from_snapshot`).
 * Last line: {"acknowledged":N,"lost":0,"double_assigned":0,"over_capacity":0,"events_missing":0,"failover_ms":x,...}.
 * Exit code 1 when any of the zeros is not zero, a killed or frozen node's tenant never came back, or
 * either failover took ≥ 5 s.
 */
import * as grpc from '@grpc/grpc-js';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { type EventBatch, unpackEventBatch } from '../src/cluster/nats/events.js';
import { idToken } from '../src/cluster/nats/subjects.js';
import type { EngineEvent } from '../src/engine/types.js';
import { Outcome, Presence } from '../src/gen/switchboard/v1/common.js';
import { ConversationStatus, EnqueueStatus } from '../src/gen/switchboard/v1/gateway.js';
import type { PublishedEvent } from '../src/host/router.js';
import { type Clients, chatAgent, chatEnqueue, chatQueue, clientsFor, unary } from './lib/api-requests.js';
import { scriptArgs } from './lib/args.js';
import {
  type LocalCluster,
  snapshotStore,
  snapshotsOption,
  startLocalCluster,
  watchRecoveries,
} from './lib/cluster.js';
import { nodeArgsOption, splitNodeArgs } from './lib/node-process.js';
import { parseSamples, scrapeText } from './lib/prom.js';

const args = scriptArgs({
  usage: 'npm run chaos -- [options]',
  options: {
    seconds: { type: 'int', default: 55, min: 10, help: 'length of the run' },
    'node-args': nodeArgsOption,
    rate: { type: 'number', default: 320, min: 1, help: 'enqueues per second, spread over all nodes' },
    tenants: { type: 'int', default: 6, min: 1, help: 'tenants (partitions)' },
    agents: { type: 'int', default: 20, min: 1, help: 'chat agents per tenant' },
    capacity: { type: 'int', default: 4, min: 1, max: 100, help: 'chat conversations per agent' },
    'kill-at': {
      type: 'number',
      default: 12,
      min: 1,
      help: 'second of the run at which the owner of the most tenants is killed',
    },
    'freeze-at': {
      type: 'number',
      default: 22,
      min: 0,
      help: 'second at which the surviving node holding the most leases is frozen (SIGSTOP);\n0 = no freeze',
    },
    'freeze-ms': {
      type: 'int',
      default: 3000,
      min: 1,
      help: 'how long it stays frozen before SIGCONT, ms (1.5 × the default 2 s lease TTL)',
    },
    'nats-restart-at': {
      type: 'number',
      default: 32,
      min: 1,
      help: 'second at which the NATS server is killed and restarted',
    },
    'nats-servers': {
      type: 'int',
      default: 1,
      min: 1,
      max: 5,
      help: 'NATS servers: 1, or 3 (a NATS cluster, every stream and bucket R3; the restart then\nkills and restarts one of the three)',
    },
    snapshots: snapshotsOption,
    'snapshot-seconds': {
      type: 'int',
      default: 4,
      min: 1,
      help: 'the nodes snapshot every tenant this often',
    },
  },
});
const SNAPSHOTS = args.snapshots;
const SECONDS = args.seconds;
const RATE = args.rate;
const TENANTS = Array.from({ length: args.tenants }, (_, i) => `chaos-${i}`);
const AGENTS = args.agents;
const CAPACITY = args.capacity;
const KILL_AT = args['kill-at'] * 1000;
const NATS_AT = args['nats-restart-at'] * 1000;
const FREEZE_AT = args['freeze-at'] * 1000;
const FREEZE_MS = args['freeze-ms'];
for (const [flag, at] of [
  ['--kill-at', KILL_AT],
  ['--freeze-at', FREEZE_AT],
  ['--nats-restart-at', NATS_AT],
] as const) {
  if (at >= SECONDS * 1000) {
    console.error(`chaos: ${flag} ${at / 1000} is not inside the run (--seconds ${SECONDS})`);
    process.exit(2);
  }
}
const SNAPSHOT_SECONDS = args['snapshot-seconds'];
const MAX_INFLIGHT = 600;
/** The issue's failover target with default lease settings. */
const FAILOVER_LIMIT_MS = 5000;
const CHECK_LIMIT_MS = 180_000;

const RETRYABLE = new Set([
  grpc.status.UNAVAILABLE,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.RESOURCE_EXHAUSTED,
]);

async function main(): Promise<void> {
  const store = await snapshotStore(SNAPSHOTS);
  console.log(
    `chaos: starting NATS + 3 nodes (lease TTL default, snapshots every ${SNAPSHOT_SECONDS} s), ${TENANTS.length} tenants × ${AGENTS} agents (chat capacity ${CAPACITY})`,
  );
  let cluster: LocalCluster | null = null;
  let ok = false;
  try {
    cluster = await startLocalCluster({
      nodes: 3,
      natsServers: args['nats-servers'],
      nodeArgs: [
        '--snapshot-seconds',
        String(SNAPSHOT_SECONDS),
        ...store.nodeArgs,
        ...splitNodeArgs(args['node-args']),
      ],
    });
    ok = await run(cluster, store.label);
  } finally {
    await cluster?.stop();
    await store.mongo?.cleanup();
  }
  if (!ok) process.exitCode = 1;
}

async function run(cluster: LocalCluster, snapshots: string): Promise<boolean> {
  const recoveries = watchRecoveries(cluster);
  const clients = cluster.nodes.map((n) => clientsFor(n.grpcTarget));
  let rr = 0;
  const pick = (): Clients => {
    for (let i = 0; i < clients.length; i++) {
      const k = rr++ % clients.length;
      if (cluster.nodes[k]?.alive) return clients[k] as Clients;
    }
    throw new Error('no live node');
  };
  /** Calls through any live node; retries retryable failures with the same request (idempotent ids). */
  async function withRetry<T>(f: (c: Clients) => Promise<T>, attempts = 4): Promise<T> {
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        return await f(pick());
      } catch (e) {
        last = e;
        if (!RETRYABLE.has((e as grpc.ServiceError).code)) throw e;
        await new Promise((r) => setTimeout(r, 100 * (i + 1)));
      }
    }
    throw last;
  }

  // ---- setup ----
  for (const tenant of TENANTS) {
    await withRetry((c) =>
      unary(c.admin, c.admin.upsertQueue, { tenant, requestId: '', queue: chatQueue('chat') }, 8000),
    );
    for (let i = 0; i < AGENTS; i++) {
      const id = `agent-${i}`;
      await withRetry((c) =>
        unary(
          c.admin,
          c.admin.upsertAgent,
          { tenant, requestId: '', agent: chatAgent(id, i, CAPACITY) },
          8000,
        ),
      );
      await withRetry((c) =>
        unary(
          c.desk,
          c.desk.setPresence,
          { tenant, requestId: '', agentId: id, presence: Presence.PRESENCE_ONLINE },
          8000,
        ),
      );
    }
  }
  console.log('setup done: tenants configured through all nodes');

  // ---- load ----
  const run = `c${Date.now().toString(36)}`;
  const acked = new Map<string, { tenant: string; status: EnqueueStatus; agentId?: string }>();
  const endedAcked = new Set<string>();
  let errors = 0;
  let inflight = 0;
  let seq = 0;
  let killAt = 0;
  let killedTenants: string[] = [];
  const firstOkAfterKill = new Map<string, number>();
  let natsAt = 0;
  let firstOkAfterNats = 0;
  let freezeAt = 0;
  let frozenNode = '';
  let frozenTenants: string[] = [];
  const firstOkAfterFreeze = new Map<string, number>();
  const t0 = Date.now();

  /** The agent talks 100–500 ms, then ends the conversation (once, whoever noticed the assignment). */
  const endStarted = new Set<string>();
  const talkThenEnd = async (tenant: string, id: string) => {
    if (endStarted.has(id)) return;
    endStarted.add(id);
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 400));
    await withRetry((c) =>
      unary(
        c.desk,
        c.desk.endConversation,
        { tenant, requestId: '', conversationId: id, outcome: Outcome.OUTCOME_RESOLVED },
        8000,
      ),
    );
    endedAcked.add(id);
  };

  const enqueueOne = async () => {
    const n = seq++;
    const tenant = TENANTS[n % TENANTS.length] as string;
    const id = `${run}-${n}`;
    const sentAt = Date.now();
    inflight++;
    try {
      const res = await withRetry((c) =>
        unary(c.gateway, c.gateway.enqueue, chatEnqueue(tenant, 'chat', id, `cust-${n % 2000}`), 8000),
      );
      const now = Date.now();
      acked.set(id, {
        tenant,
        status: res.status,
        ...(res.agentId !== undefined ? { agentId: res.agentId } : {}),
      });
      if (killAt && sentAt >= killAt && killedTenants.includes(tenant) && !firstOkAfterKill.has(tenant)) {
        firstOkAfterKill.set(tenant, now - killAt);
      }
      if (natsAt && sentAt >= natsAt && !firstOkAfterNats) firstOkAfterNats = now - natsAt;
      if (
        freezeAt &&
        sentAt >= freezeAt &&
        frozenTenants.includes(tenant) &&
        !firstOkAfterFreeze.has(tenant)
      ) {
        firstOkAfterFreeze.set(tenant, now - freezeAt);
      }
      if (res.status === EnqueueStatus.ENQUEUE_STATUS_ASSIGNED) await talkThenEnd(tenant, id);
    } catch {
      errors++;
    } finally {
      inflight--;
    }
  };

  const pending: Promise<void>[] = [];
  const js = await connect({
    servers: cluster.natsUrl.split(','),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
  const leases = await new Kvm(js).open('SB_OWNERS');
  // Conversations that waited and were assigned later are ended too, so agents keep freeing capacity.
  const assignedSub = js.subscribe('sb.evt.*', {
    callback: (err, msg) => {
      if (err) return;
      for (const e of unpackEventBatch(msg.json<EventBatch>())) {
        const ev = e.event as { conversationId?: string };
        if (e.event.type === 'assigned' && ev.conversationId && acked.has(ev.conversationId)) {
          pending.push(talkThenEnd(e.tenant, ev.conversationId).catch(() => undefined));
        }
      }
    },
  });
  /** The live node holding the most tenant leases, with those tenants. */
  const busiestLiveNode = async (): Promise<[string, string[]]> => {
    const live = new Set(cluster.nodes.filter((x) => x.alive).map((x) => x.nodeId));
    const owners = new Map<string, string[]>();
    for (const t of TENANTS) {
      const e = await leases.get(idToken(t)).catch(() => null);
      const owner = e?.operation === 'PUT' ? (e.json<{ owner: string }>().owner ?? '') : '';
      owners.set(owner, [...(owners.get(owner) ?? []), t]);
    }
    return [...owners].filter(([o]) => live.has(o)).sort((a, b) => b[1].length - a[1].length)[0] ?? ['', []];
  };
  let killed = false;
  let frozen = false;
  let natsRestarted = false;
  let credit = 0;
  let issued = 0;
  let shed = 0;
  await new Promise<void>((resolveLoad) => {
    const timer = setInterval(() => {
      const elapsed = Date.now() - t0;
      if (elapsed >= SECONDS * 1000) {
        clearInterval(timer);
        resolveLoad();
        return;
      }
      // Open loop by the clock, not by timer ticks (which stretch when the machine is busy).
      credit = (elapsed / 1000) * RATE - issued;
      while (credit >= 1) {
        credit -= 1;
        issued++;
        if (inflight < MAX_INFLIGHT) pending.push(enqueueOne());
        else shed++;
      }
      if (!killed && elapsed >= KILL_AT) {
        killed = true;
        void (async () => {
          const [victim, tenants] = await busiestLiveNode();
          const idx = cluster.nodes.findIndex((x) => x.nodeId === victim);
          if (idx < 0) return;
          killedTenants = tenants;
          killAt = Date.now();
          await cluster.killNode(idx);
          console.log(
            `t+${((killAt - t0) / 1000).toFixed(1)}s kill -9 ${victim} (leases: ${tenants.join(', ')})`,
          );
        })();
      }
      if (!frozen && FREEZE_AT > 0 && elapsed >= FREEZE_AT) {
        frozen = true;
        void (async () => {
          const [victim, tenants] = await busiestLiveNode();
          const idx = cluster.nodes.findIndex((x) => x.nodeId === victim);
          if (idx < 0) return;
          frozenTenants = tenants;
          frozenNode = victim;
          freezeAt = Date.now();
          console.log(
            `t+${((freezeAt - t0) / 1000).toFixed(1)}s SIGSTOP ${victim} for ${FREEZE_MS} ms (leases: ${tenants.join(', ')})`,
          );
          await cluster.freezeNode(idx, FREEZE_MS);
          console.log(`t+${((Date.now() - t0) / 1000).toFixed(1)}s SIGCONT ${victim}`);
        })();
      }
      if (!natsRestarted && elapsed >= NATS_AT) {
        natsRestarted = true;
        natsAt = Date.now();
        void cluster.restartNats().then(
          () =>
            console.log(
              `t+${((natsAt - t0) / 1000).toFixed(1)}s NATS server kill -9 + restart (back after ${Date.now() - natsAt} ms)`,
            ),
          (e) => {
            // Without NATS every later call and check would only retry until its deadline, for hours.
            console.error(
              `chaos: the NATS server did not come back after its restart: ${(e as Error).message}`,
            );
            process.exit(2);
          },
        );
      }
    }, 10);
  });
  await Promise.all(pending);
  await new Promise((r) => setTimeout(r, 1000));
  assignedSub.unsubscribe();
  await Promise.all(pending);
  console.log(
    `load done: ${seq} enqueues sent, ${acked.size} acknowledged, ${errors} failed after retries, ${shed} not sent (client at ${MAX_INFLIGHT} in flight), ${endedAcked.size} ended`,
  );
  await new Promise((r) => setTimeout(r, 2000));
  // The checks read ~17 000 conversations and the event stream: seconds when the cluster is healthy. If
  // it is not (NATS gone), say so instead of retrying every call until its deadline for hours.
  const watchdog = setTimeout(() => {
    console.error(
      `chaos: checks did not finish within ${CHECK_LIMIT_MS / 1000} s — is the cluster (NATS) up?`,
    );
    process.exit(2);
  }, CHECK_LIMIT_MS);
  watchdog.unref();

  // ---- check 1: every acknowledged conversation exists on the cluster ----
  const OK = new Set([
    ConversationStatus.CONVERSATION_STATUS_WAITING,
    ConversationStatus.CONVERSATION_STATUS_OFFERED,
    ConversationStatus.CONVERSATION_STATUS_ASSIGNED,
    ConversationStatus.CONVERSATION_STATUS_WRAP_UP,
    ConversationStatus.CONVERSATION_STATUS_CLOSED,
  ]);
  const ENDED = new Set([
    ConversationStatus.CONVERSATION_STATUS_WRAP_UP,
    ConversationStatus.CONVERSATION_STATUS_CLOSED,
  ]);
  const AFTER_ASSIGNED = new Set([ConversationStatus.CONVERSATION_STATUS_ASSIGNED, ...ENDED]);
  let lost = 0;
  const ids = [...acked.keys()];
  const lostIds: string[] = [];
  const workers = Array.from({ length: 32 }, async () => {
    for (let id = ids.pop(); id !== undefined; id = ids.pop()) {
      const { tenant } = acked.get(id) as { tenant: string };
      const conv = await withRetry((c) =>
        unary(c.gateway, c.gateway.getConversation, { tenant, requestId: '', conversationId: id }, 8000),
      ).catch(() => null);
      // Not only present: as far along as acknowledged. An acknowledged end leaves it wrapping up or
      // closed; an acknowledged assignment never goes back to waiting (no transfers here) and keeps its
      // agent until it ends.
      const c = conv?.conversation;
      const a = acked.get(id) as { status: EnqueueStatus; agentId?: string };
      const wasAssigned = a.status === EnqueueStatus.ENQUEUE_STATUS_ASSIGNED;
      const bad =
        !c ||
        !OK.has(c.status) ||
        (endedAcked.has(id) && !ENDED.has(c.status)) ||
        (wasAssigned && !AFTER_ASSIGNED.has(c.status)) ||
        (wasAssigned && a.agentId !== undefined && c.agentId !== undefined && c.agentId !== a.agentId);
      if (bad) {
        lost++;
        if (lostIds.length < 5)
          lostIds.push(`${tenant}/${id} (${c ? ConversationStatus[c.status] : 'missing'})`);
      }
    }
  });
  await Promise.all(workers);
  if (lostIds.length) console.log(`lost (first ${lostIds.length}): ${lostIds.join(' ')}`);

  // ---- check 2: invariants over the durable event stream ----
  const jsc = jetstream(js);
  const consumer = await jsc.consumers.get('SB_EVENTS', {
    filter_subjects: ['sb.evt.>'],
    deliver_policy: DeliverPolicy.All,
  });
  const info = await consumer.info();
  const total = info.num_pending;
  const events: PublishedEvent[] = [];
  if (total > 0) {
    const msgs = await consumer.consume({ max_messages: 1000 });
    for await (const m of msgs) {
      events.push(...unpackEventBatch(m.json<EventBatch>()));
      if (m.info.pending === 0) break;
    }
    await msgs.close();
  }
  await js.close();
  // Every acknowledged command's events must be in the durable stream: the enqueue's own outcome (queued,
  // offered, assigned, over capacity, outside hours), an `assigned` for one acknowledged as assigned and,
  // once its end was acknowledged, the `conversation_ended`. A node killed between log ack and publish
  // must not make them go missing.
  const OUTCOMES = new Set(['queued', 'offered', 'assigned', 'over_capacity', 'outside_hours']);
  const endedInEvents = new Set<string>();
  const outcomeInEvents = new Set<string>();
  const assignedInEvents = new Set<string>();
  for (const e of events) {
    const conv = (e.event as { conversationId?: string }).conversationId;
    if (conv === undefined) continue;
    const key = `${e.tenant}/${conv}`;
    if (OUTCOMES.has(e.event.type)) outcomeInEvents.add(key);
    if (e.event.type === 'assigned') assignedInEvents.add(key);
    if (e.event.type === 'conversation_ended') endedInEvents.add(key);
  }
  let eventsMissing = 0;
  const missingIds: string[] = [];
  const skip = new Set<string>();
  for (const [id, { tenant, status }] of acked) {
    const key = `${tenant}/${id}`;
    const missing =
      !outcomeInEvents.has(key) ||
      (status === EnqueueStatus.ENQUEUE_STATUS_ASSIGNED && !assignedInEvents.has(key)) ||
      (endedAcked.has(id) && !endedInEvents.has(key));
    if (missing) {
      eventsMissing++;
      skip.add(key);
      if (missingIds.length < 5) missingIds.push(key);
    }
  }
  let doubleAssigned = 0;
  let overCapacity = 0;
  const byTenant = new Map<string, PublishedEvent[]>();
  for (const e of events) byTenant.set(e.tenant, [...(byTenant.get(e.tenant) ?? []), e]);
  for (const [tenant, list] of byTenant) {
    list.sort((a, b) => a.seq - b.seq); // stable: events of one batch keep their order
    const holder = new Map<string, string>();
    const load = new Map<string, Set<string>>();
    for (const { event } of list) {
      const ev = event as EngineEvent & { conversationId?: string; agentId?: string };
      const key = `${tenant}/${ev.conversationId}`;
      if (ev.type === 'assigned') {
        const cur = holder.get(key);
        if (cur !== undefined && cur !== ev.agentId) doubleAssigned++;
        holder.set(key, ev.agentId);
        if (skip.has(key)) continue;
        let set = load.get(ev.agentId);
        if (!set) {
          set = new Set();
          load.set(ev.agentId, set);
        }
        set.add(key);
        if (set.size > CAPACITY) overCapacity++;
      } else if (ev.type === 'conversation_ended' || ev.type === 'transferred' || ev.type === 'abandoned') {
        const cur = holder.get(key);
        if (cur !== undefined) load.get(cur)?.delete(key);
        holder.delete(key);
      }
    }
  }
  const failoverMs = Math.max(0, ...[...firstOkAfterKill.values()]);
  const unrecovered = killedTenants.filter((t) => !firstOkAfterKill.has(t));
  const freezeFailoverMs = Math.max(0, ...[...firstOkAfterFreeze.values()]);
  // Served again is not enough (the frozen node might simply have woken up in time): another node must
  // have taken each of its tenants over during the freeze.
  const frozenTakenOver = frozenTenants.filter((t) =>
    recoveries.some((r) => r.tenant === t && r.node !== frozenNode && r.at >= freezeAt),
  );
  const unthawed = frozenTenants.filter((t) => !firstOkAfterFreeze.has(t));
  console.log(
    `events: ${events.length} read from SB_EVENTS; ${eventsMissing} acknowledged conversations with an event missing${missingIds.length ? ` (first: ${missingIds.join(' ')})` : ''}`,
  );
  console.log(
    `failover: tenants of the killed node back after ${[...firstOkAfterKill].map(([t, ms]) => `${t}=${ms}ms`).join(', ')}${unrecovered.length ? `; never recovered: ${unrecovered.join(', ')}` : ''}`,
  );
  if (FREEZE_AT > 0) {
    console.log(
      `freeze: tenants of the frozen node served again after ${[...firstOkAfterFreeze].map(([t, ms]) => `${t}=${ms}ms`).join(', ')}${unthawed.length ? `; never: ${unthawed.join(', ')}` : ''}`,
    );
  }
  clearTimeout(watchdog);
  console.log(`NATS restart: first call issued after it succeeded ${firstOkAfterNats} ms later`);
  // The killed node's tenants as the surviving nodes took them over (the first recovery after the kill).
  const takeovers = killedTenants.flatMap((t) => {
    const r = recoveries.find((x) => x.tenant === t && x.at >= killAt);
    return r ? [r] : [];
  });
  console.log(
    `takeovers (snapshots in ${snapshots}): ${takeovers
      .map(
        (r) =>
          `${r.tenant} on ${r.node}: snapshot seq ${r.snapshotSeq} + ${r.replayed} replayed in ${r.ms} ms`,
      )
      .join('; ')}`,
  );
  // How often the surviving nodes lost their own lease (the frozen node must have: its lease lapsed and
  // was fenced; the NATS restart may make the others lapse): each such loss dropped all their tenants
  // for a moment, which the zeros above must survive too.
  const leaseLosses: Record<string, number> = { fenced: 0, expired: 0, lapsed: 0 };
  for (const n of cluster.nodes.filter((x) => x.alive)) {
    const text = (await scrapeText(`${n.httpUrl}/metrics`)) ?? '';
    for (const { labels, value } of parseSamples(text, 'switchboard_node_lease_lost_total')) {
      const reason = labels.reason ?? '';
      leaseLosses[reason] = (leaseLosses[reason] ?? 0) + value;
    }
  }
  console.log(
    `lease losses on the surviving nodes: ${Object.entries(leaseLosses)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
  );
  const result = {
    acknowledged: acked.size,
    lost,
    double_assigned: doubleAssigned,
    over_capacity: overCapacity,
    events_missing: eventsMissing,
    failover_ms: unrecovered.length ? -1 : failoverMs,
    ...(FREEZE_AT > 0
      ? {
          freeze_failover_ms: unthawed.length ? -1 : freezeFailoverMs,
          freeze_takeovers: `${frozenTakenOver.length}/${frozenTenants.length}`,
        }
      : {}),
    snapshots,
    takeovers_from_snapshot: `${takeovers.filter((r) => r.snapshotSeq > 0).length}/${killedTenants.length}`,
    lease_losses: leaseLosses,
    ...(args['node-args'] ? { node_args: args['node-args'] } : {}),
    ...(args['nats-servers'] > 1 ? { nats_servers: args['nats-servers'] } : {}),
  };
  const ok =
    lost === 0 &&
    doubleAssigned === 0 &&
    overCapacity === 0 &&
    eventsMissing === 0 &&
    killedTenants.length > 0 &&
    unrecovered.length === 0 &&
    failoverMs < FAILOVER_LIMIT_MS &&
    (FREEZE_AT === 0 ||
      (frozenTenants.length > 0 &&
        unthawed.length === 0 &&
        frozenTakenOver.length === frozenTenants.length &&
        freezeFailoverMs < FAILOVER_LIMIT_MS));
  if (!ok)
    console.log(
      'chaos: FAILED (a zero is not zero, a killed or frozen node’s tenant never came back, or a failover took ≥ 5 s)',
    );
  console.log(JSON.stringify(result));
  return ok;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
