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

  it('names the logged occurrences to leave out by id and time, so an earlier command with the id is replayed', () => {
    let now = 0;
    const q = new Quarantine({ holdMs: 10, now: () => now });
    q.add('acme', env('x', 5), 'engine_halt');
    expect(q.add('acme', env('x', 7), 'engine_halt')).toBe(false);
    expect(q.skips('acme')).toEqual([
      { id: 'x', at: 5 },
      { id: 'x', at: 7 },
    ]);
    expect(q.skips('globex')).toEqual([]);
    now = 10;
    expect(q.skips('acme')).toEqual([]);
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
