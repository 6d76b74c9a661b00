import { JetStreamApiError } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { isNotReady, onExistingStream, StreamNotVisibleError, untilReady } from './startup.js';

/** A clock that only moves when the retry loop sleeps. */
function fakeTime() {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

const named = (name: string, message = name) => Object.assign(new Error(message), { name });
const apiError = (code: number, status: number, description: string) =>
  Object.assign(new Error(description), { name: 'JetStreamApiError', code, status });

describe('JetStream start-up readiness', () => {
  it('knows the not-ready errors from the ones a retry cannot fix', () => {
    expect(isNotReady(named('NoRespondersError', "no responders: '$JS.API.STREAM.INFO.X'"))).toBe(true);
    expect(isNotReady(new Error('x', { cause: named('NoRespondersError') }))).toBe(true);
    expect(isNotReady(named('TimeoutError', 'timeout'))).toBe(true);
    expect(isNotReady(apiError(10008, 503, 'JetStream system temporarily unavailable'))).toBe(true);
    expect(isNotReady(apiError(10005, 500, 'no suitable peers for placement'))).toBe(true);
    expect(isNotReady(new Error('wrapped', { cause: apiError(10008, 503, 'unavailable') }))).toBe(true);
    // A stream with other settings, bad credentials, a bad name: no amount of waiting helps.
    expect(
      isNotReady(apiError(10058, 400, 'stream name already in use with a different configuration')),
    ).toBe(false);
    expect(isNotReady(named('PermissionViolationError', 'Permissions Violation for Publish'))).toBe(false);
    expect(isNotReady(new Error('invalid stream name'))).toBe(false);
  });

  it('"stream not found" is not-ready only for a stream the caller knows exists', async () => {
    const notFound = () =>
      new JetStreamApiError({ err_code: 10059, code: 404, description: 'stream not found' });
    // A stream that may really be missing (ensureStream then creates it): no.
    expect(isNotReady(notFound())).toBe(false);
    // One just created or found: not visible yet, wait for it.
    const e = await onExistingStream('KV_SB_NODES', () => Promise.reject(notFound())).catch((x) => x);
    expect(e).toBeInstanceOf(StreamNotVisibleError);
    expect(String(e)).toMatch(/stream KV_SB_NODES not visible yet \(stream not found\)/);
    expect(isNotReady(e)).toBe(true);
    // Its other errors pass unchanged.
    const other = new JetStreamApiError({ err_code: 10058, code: 400, description: 'name in use' });
    await expect(onExistingStream('KV_SB_NODES', () => Promise.reject(other))).rejects.toBe(other);
  });

  it('retries a not-ready step with growing waits (100 ms doubling to 1 s), logging each, until it succeeds', async () => {
    const time = fakeTime();
    const logged: Record<string, unknown>[] = [];
    let calls = 0;
    const result = await untilReady(
      'command log streams',
      async () => {
        calls++;
        if (calls < 7) throw named('NoRespondersError', 'no responders');
        return 'open';
      },
      { until: 60_000, ...time, log: (_m, f) => logged.push(f ?? {}) },
    );
    expect(result).toBe('open');
    expect(calls).toBe(7);
    expect(time.slept).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(logged).toHaveLength(6);
    expect(logged[0]).toMatchObject({ step: 'command log streams', attempt: 1, retryInMs: 100 });
  });

  it('fails at once on an error waiting cannot fix, and with the last error once the time is up', async () => {
    const time = fakeTime();
    let calls = 0;
    await expect(
      untilReady(
        'owner bucket',
        async () => {
          calls++;
          throw new Error('permission denied');
        },
        { until: 60_000, ...time },
      ),
    ).rejects.toThrow('permission denied');
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      untilReady(
        'owner bucket',
        async () => {
          calls++;
          throw apiError(10008, 503, `unavailable #${calls}`);
        },
        { until: 3_000, ...time },
      ),
    ).rejects.toThrow(/unavailable #\d+/);
    // 100 + 200 + 400 + 800 + 1000 = 2 500 ms slept; the next wait would end after 3 000.
    expect(calls).toBe(6);
  });
});
