/** A thread that dies outside any command (restoring a snapshot, after an apply loop) blames no command. */
import { describe, expect, it } from 'vitest';
import { RoutingEngine } from '../../src/engine/engine.js';
import { agentConfig, conversation, queueConfig } from '../../src/engine/fixtures.js';
import { createEngine } from '../../src/engine/index.js';
import type { CommandEnvelope } from '../../src/engine/types.js';
import { PartitionActors } from '../../src/host/partition-actor.js';
import { progressBuffer } from '../../src/host/worker-progress.js';

const env = (id: string, at: number, cmd: CommandEnvelope['cmd']): CommandEnvelope => ({ id, at, cmd });
const cells = (b: SharedArrayBuffer) => [...new Int32Array(b).slice(0, 4)];

describe('worker progress: no command in progress', () => {
  it('while restoring the snapshot of a load, the cells name no logged command', () => {
    const buf = progressBuffer(1);
    const a = new PartitionActors(false, false, buf);
    const snap = createEngine('acme').snapshot();
    let seen: number[] | null = null;
    const spy = new Proxy(snap as object, {
      get(t, k, r) {
        seen ??= cells(buf); // what the host would read if the thread died here
        return Reflect.get(t, k, r);
      },
    });
    const batches = [[env('cmd-innocent', 1, { type: 'upsert_queue', queue: queueConfig('q') })]];
    a.handle({
      slot: 0,
      call: 7,
      items: [
        {
          kind: 'load',
          partition: 'acme',
          snapshot: spy as never,
          snapshotJson: null,
          snapshotDigest: null,
          batches,
          unreleased: [],
          skip: [],
        },
      ],
    });
    expect(seen).toEqual([7, 0, -1, -1]);
  });

  it('after the apply loop (nextTimerAt), the cells name no command', () => {
    const buf = progressBuffer(1);
    const a = new PartitionActors(false, false, buf);
    a.handle({
      items: [
        {
          kind: 'load',
          partition: 'acme',
          snapshot: null,
          snapshotJson: null,
          snapshotDigest: null,
          batches: [],
          unreleased: [],
          skip: [],
        },
      ],
    });
    const orig = RoutingEngine.prototype.nextTimerAt;
    let seen: number[] | null = null;
    RoutingEngine.prototype.nextTimerAt = function (this: RoutingEngine) {
      seen ??= cells(buf);
      return orig.call(this);
    };
    try {
      const cmds = [
        env('c0', 1, { type: 'upsert_queue', queue: queueConfig('chat-billing') }),
        env('c1', 2, { type: 'upsert_agent', agent: agentConfig('agent-1') }),
        env('c2', 3, { type: 'enqueue', conversation: conversation('conv', { queueId: 'chat-billing' }) }),
      ];
      a.handle({
        slot: 0,
        call: 9,
        items: [
          {
            kind: 'apply',
            partition: 'acme',
            commands: cmds,
            receivedAt: [Number.NaN, Number.NaN, Number.NaN],
          },
        ],
      });
      expect(seen).toEqual([9, 0, -1, -1]);
    } finally {
      RoutingEngine.prototype.nextTimerAt = orig;
    }
  });
});
