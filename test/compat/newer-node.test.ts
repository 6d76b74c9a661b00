/**
 * A rolling upgrade runs two builds in one cluster: this build reads what a NEWER one writes (its
 * forwarded calls, its events, its KV values, its answers to forwarded queries) until the rollout ends.
 * What a newer build may add — a field, an enum value, a command, a query — must not make this build
 * fail calls or watchers. Built on the newest corpus's real messages, with the additions injected.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conversationToProto, eventToProto } from '../../src/api/to-proto.js';
import { decodeEventBatch, unpackEventBatch } from '../../src/cluster/nats/events.js';
import { checkForwardedCall, decodeForwarded, type RpcRequest } from '../../src/cluster/nats/forwarding.js';
import { decodeNodeValue, decodeOwnerValue } from '../../src/cluster/nats/ownership.js';
import { decodeSnapshotHead } from '../../src/cluster/nats/snapshot-store.js';
import type { ConversationView, EngineEvent } from '../../src/engine/types.js';
import { Event, PresenceChangedEvent } from '../../src/gen/switchboard/v1/events.js';
import { Conversation } from '../../src/gen/switchboard/v1/gateway.js';
import { COMPAT_ROOT, corpusNames } from './corpus.js';
import { messages } from './read-corpus.js';

const newest = join(COMPAT_ROOT, corpusNames(readdirSync(COMPAT_ROOT)).at(-1) as string);
const enc = new TextEncoder();
const json = (v: unknown) => enc.encode(JSON.stringify(v));

/** Every forwarded call of the corpus, as a newer node would send it: an unknown field at every level. */
function newerCalls(): RpcRequest[] {
  const out: RpcRequest[] = [];
  for (const m of messages(newest, 'cluster/rpc.msgs')) {
    if (!m.subject.startsWith('sb.rpc.')) continue;
    const d = decodeForwarded(m.data);
    if ('ok' in d) throw new Error('corpus request does not decode');
    for (const c of d.calls) {
      const call = { ...c, traceId: 'newer-node' } as RpcRequest & Record<string, unknown>;
      if (call.kind === 'submit') {
        const cmd = { ...call.env.cmd, addedLater: { x: 1 } } as Record<string, unknown>;
        for (const k of ['conversation', 'agent', 'queue', 'customer', 'config']) {
          if (typeof cmd[k] === 'object' && cmd[k] !== null)
            cmd[k] = { ...(cmd[k] as object), addedLater: [1, 2] };
        }
        call.env = { ...call.env, cmd, causedBy: 'gateway-x' } as never;
      } else if (call.kind === 'query') {
        call.q = { ...call.q, addedLater: true } as never;
      }
      out.push(call);
    }
  }
  return out;
}

describe('a newer node’s messages, read by this build', () => {
  it('forwarded calls with fields this build does not know pass the owner’s checks (every corpus call)', () => {
    const calls = newerCalls();
    expect(calls.length).toBeGreaterThan(100);
    const kinds = new Set(calls.map((c) => (c.kind === 'submit' ? c.env.cmd.type : c.kind)));
    for (const k of ['upsert_agent', 'upsert_queue', 'upsert_customer', 'set_routing_config', 'enqueue'])
      expect(kinds).toContain(k);
    for (const c of calls) expect(checkForwardedCall(c), JSON.stringify(c).slice(0, 200)).toBeNull();
    // …and in a batch body with a field of its own.
    const body = decodeForwarded(json({ kind: 'batch', calls: calls.slice(0, 5), ms: 100, priority: 'hi' }));
    expect('calls' in body && body.calls).toHaveLength(5);
  });

  it('a forwarded command, query or kind of call this build does not know is refused as UNIMPLEMENTED, saying why', () => {
    const base = newerCalls().find((c) => c.kind === 'submit') as RpcRequest & { kind: 'submit' };
    const unknownCommand = { ...base, env: { ...base.env, cmd: { type: 'pause_queue', queueId: 'q' } } };
    const unknownQuery = { kind: 'query', tenant: base.tenant, q: { type: 'queue_forecast' }, hops: 1 };
    const unknownKind = { kind: 'replay', tenant: base.tenant, hops: 1 };
    for (const [call, field] of [
      [unknownCommand, 'cmd.type'],
      [unknownQuery, 'q.type'],
      [unknownKind, 'kind'],
    ] as const) {
      const err = checkForwardedCall(call as never);
      expect(err, field).toMatchObject({ code: 'SB_ERR_NOT_IMPLEMENTED', field });
      expect(err?.message).toMatch(/not known to the build of the tenant's owner/);
    }
    // A malformed command is still the caller's error.
    expect(checkForwardedCall({ ...base, env: { ...base.env, cmd: { type: 7 } } } as never)).toMatchObject({
      code: 'SB_ERR_INVALID_ARGUMENT',
    });
  });

  it('event messages with fields this build does not know decode to the same events', () => {
    const [first] = messages(newest, 'jetstream/events.msgs');
    const b = decodeEventBatch((first as { data: Uint8Array }).data);
    if (!b) throw new Error('corpus event message does not decode');
    const newer = {
      ...b,
      producer: 'node-9',
      events: b.events.map((e) => ({ ...e, traceId: 't', event: { ...e.event, addedLater: 1 } })),
    };
    const again = decodeEventBatch(json(newer));
    expect(again && unpackEventBatch(again).map((e) => [e.seq, e.index, e.event.type])).toEqual(
      unpackEventBatch(b).map((e) => [e.seq, e.index, e.event.type]),
    );
  });

  it('an event with an enum value this build does not know reaches watchers as UNSPECIFIED instead of failing to encode', () => {
    const at = 1_767_600_000_000;
    const events = [
      { type: 'presence_changed', agentId: 'a1', presence: 'training', reason: 'agent' },
      {
        type: 'conversation_ended',
        conversationId: 'c1',
        agentId: 'a1',
        queueId: 'q',
        outcome: 'callback_booked',
        handleMs: 1,
        participants: ['a1'],
      },
      {
        type: 'assigned',
        conversationId: 'c1',
        agentId: 'a1',
        agentName: 'A',
        queueId: 'q',
        expectedResponseMs: 0,
        explanation: {
          rule: 'strategy',
          strategy: 'skills_then_idle',
          queueId: 'q',
          candidates: 1,
          relaxed: [],
          waitedMs: 0,
        },
      },
    ] as unknown as EngineEvent[];
    for (const event of events) {
      const bytes = Event.encode(eventToProto({ tenant: 't', seq: 1, index: 0, at, event })).finish();
      const back = Event.decode(bytes);
      expect(back.seq).toBe(1n);
    }
    const back = Event.decode(
      Event.encode(
        eventToProto({ tenant: 't', seq: 1, index: 0, at, event: events[0] as EngineEvent }),
      ).finish(),
    );
    expect(back.presenceChanged).toEqual(
      PresenceChangedEvent.fromPartial({ agentId: 'a1', presence: 0, reason: 'agent' }),
    );
  });

  it('a newer owner’s answer with an enum value this build does not know encodes for the client', () => {
    const view = {
      id: 'c1',
      channel: 'video',
      customerId: 'k',
      valueTier: 'standard',
      priority: 0,
      requiredSkills: [],
      topic: null,
      queueId: 'q',
      status: 'parked',
      createdAt: 1,
      enqueuedAt: 1,
      agentId: null,
      participants: [],
      offeredTo: [],
      outcome: 'callback_booked',
      explanation: null,
      position: null,
      estimatedWaitMs: null,
    } as unknown as ConversationView;
    const back = Conversation.decode(Conversation.encode(conversationToProto(view)).finish());
    expect([back.channel, back.status, back.outcome]).toEqual([0, 0, 0]);
  });

  it('KV node and owner values and snapshot heads with fields this build does not know decode', () => {
    expect(
      decodeNodeValue(json({ nodeId: 'n9', inc: 'x', ttl: 6000, at: 1, leaving: true, zone: 'eu-1' })),
    ).toMatchObject({ nodeId: 'n9', ttl: 6000, leaving: true });
    expect(decodeOwnerValue(json({ owner: 'n9', inc: 'x', at: 1, epoch: 4 }))).toMatchObject({ owner: 'n9' });
    expect(
      decodeSnapshotHead(json({ seq: 5, takenAt: 1, digest: 'd', bytes: 3, chunks: 1, codec: 'none' })),
    ).toMatchObject({ seq: 5, chunks: 1 });
  });
});
