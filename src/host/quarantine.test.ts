import { describe, expect, it } from 'vitest';
import type { CommandEnvelope } from '../engine/types.js';
import { Quarantine } from './quarantine.js';

const env = (id: string, at: number): CommandEnvelope => ({
  id,
  at,
  cmd: { type: 'cancel', conversationId: id },
});

describe('quarantine of poison commands', () => {
  it('refuses a quarantined id in its partition only, whatever the retry carries, until the hold ends', () => {
    let now = 1_000;
    const q = new Quarantine({ holdMs: 60_000, now: () => now });
    expect(q.refuses('acme', 'x')).toBeNull();
    expect(q.add('acme', env('x', 500), 'worker_exit')).toBe(true);
    expect(q.refuses('acme', 'x')).toMatchObject({
      id: 'x',
      reason: 'worker_exit',
      type: 'cancel',
      until: 61_000,
    });
    expect(q.refuses('globex', 'x')).toBeNull();
    expect(q.refuses('acme', 'y')).toBeNull();
    now = 61_000;
    expect(q.refuses('acme', 'x')).toBeNull();
    expect(q.size).toBe(0);
  });

  it('names the logged occurrences to leave out by log position, id and time; an unplaced one is not left out', () => {
    let now = 0;
    const q = new Quarantine({ holdMs: 10, now: () => now });
    q.add('acme', env('x', 5), 'engine_halt');
    expect(q.add('acme', env('x', 7), 'engine_halt')).toBe(false);
    // Not placed yet (position unknown): nothing is left out, it may be an acknowledged command.
    expect(q.skips('acme', [40, 41, 42])).toEqual([]);
    q.place('acme', 'x', 5, 41);
    q.place('acme', 'x', 7, 42);
    expect(q.skips('acme', [40, 41, 42])).toEqual([
      { id: 'x', at: 5, batch: 1 },
      { id: 'x', at: 7, batch: 2 },
    ]);
    // A batch this replay does not read (below its snapshot) is not named.
    expect(q.skips('acme', [42])).toEqual([{ id: 'x', at: 7, batch: 0 }]);
    expect(q.skips('globex', [40])).toEqual([]);
    now = 10;
    expect(q.skips('acme', [40, 41, 42])).toEqual([]);
  });

  it('keeps at most maxEntries commands, dropping the one whose hold ends first', () => {
    let now = 0;
    const q = new Quarantine({ holdMs: 100, maxEntries: 2, now: () => now });
    q.add('acme', env('a', 1), 'worker_exit');
    now = 1;
    q.add('acme', env('b', 2), 'worker_exit');
    now = 2;
    q.add('globex', env('c', 3), 'worker_exit');
    expect(q.size).toBe(2);
    expect(q.refuses('acme', 'a')).toBeNull();
    expect(q.refuses('acme', 'b')).not.toBeNull();
    expect(q.refuses('globex', 'c')).not.toBeNull();
  });

  it('holds a partition once its work ended maxKills threads within the hold, until the oldest of them ages out', () => {
    let now = 0;
    const q = new Quarantine({ holdMs: 100, maxKills: 3, now: () => now });
    expect(q.killedBy('acme')).toBe(1);
    now = 10;
    q.killedBy('acme');
    expect(q.heldUntil('acme')).toBeNull();
    now = 20;
    expect(q.killedBy('acme')).toBe(3);
    expect(q.heldUntil('acme')).toBe(100);
    expect(q.heldUntil('globex')).toBeNull();
    now = 100;
    expect(q.heldUntil('acme')).toBeNull();
    // Deaths spread wider than the hold never add up to one.
    now = 500;
    q.killedBy('initech');
    now = 650;
    q.killedBy('initech');
    now = 800;
    expect(q.killedBy('initech')).toBe(1);
    expect(q.heldUntil('initech')).toBeNull();
  });
});
