/**
 * `loadtest:grpc --trace-calls`: lining the client's calls up with the server's and splitting each
 * call's latency into way in / server / way out.
 */
import { describe, expect, it } from 'vitest';
import {
  type ClientCall,
  type ServerCall,
  splitCalls,
  summarizeParts,
} from '../../loadtest/lib/call-trace.js';

const US = 1_000;

describe('splitting calls into way in / server / way out', () => {
  it('matches the node’s calls by iteration number, whatever their order', () => {
    const client: ClientCall[] = [
      { iter: 7, startNs: 1_000 * US, endNs: 1_900 * US },
      { iter: 8, startNs: 3_000 * US, endNs: 3_500 * US },
    ];
    const server: ServerCall[] = [
      { iter: 8, receivedNs: 3_100 * US, answeredNs: 3_300 * US },
      { iter: 7, receivedNs: 1_200 * US, answeredNs: 1_700 * US },
      { iter: 99, receivedNs: 9_000 * US, answeredNs: 9_100 * US }, // the warm-up's, say
    ];
    const { parts, unmatched } = splitCalls(client, server);
    expect(unmatched).toBe(0);
    expect(parts).toEqual([
      { totalUs: 900, inUs: 200, serverUs: 500, outUs: 200 },
      { totalUs: 500, inUs: 100, serverUs: 200, outUs: 200 },
    ]);
  });

  it('matches the echo server’s anonymous calls by time, and leaves out a call with no or two partners', () => {
    const client: ClientCall[] = [
      { iter: 1, startNs: 1_000 * US, endNs: 1_400 * US }, // one server call inside
      { iter: 2, startNs: 2_000 * US, endNs: 2_400 * US }, // none
      { iter: 3, startNs: 3_000 * US, endNs: 3_900 * US }, // two: ambiguous
    ];
    const at = (us: number): ServerCall => ({ iter: -1, receivedNs: us * US, answeredNs: us * US });
    const { parts, unmatched } = splitCalls(client, [at(3_500), at(1_150), at(3_200), at(2_600)]);
    expect(unmatched).toBe(2);
    expect(parts).toEqual([{ totalUs: 400, inUs: 150, serverUs: 0, outUs: 250 }]);
  });

  it('refuses a partner whose answer came after the client had its reply (clocks that disagree)', () => {
    const { unmatched } = splitCalls(
      [{ iter: 1, startNs: 1_000 * US, endNs: 1_400 * US }],
      [{ iter: 1, receivedNs: 1_100 * US, answeredNs: 1_500 * US }],
    );
    expect(unmatched).toBe(1);
  });

  it('summarizes p50 / p99 per part and where the slowest 1 % spent its time', () => {
    // 99 fast calls (in 100, server 200, out 100) and one slow one whose time went to the way in.
    const client: ClientCall[] = [];
    const server: ServerCall[] = [];
    for (let i = 0; i < 100; i++) {
      const start = i * 10_000 * US;
      const slow = i === 42;
      const inUs = slow ? 5_000 : 100;
      client.push({ iter: i, startNs: start, endNs: start + (inUs + 300) * US });
      server.push({ iter: i, receivedNs: start + inUs * US, answeredNs: start + (inUs + 200) * US });
    }
    const s = summarizeParts(splitCalls(client, server));
    expect(s.calls).toBe(100);
    expect(s.unmatched).toBe(0);
    expect(s.total).toEqual([400, 5_300]);
    expect(s.way_in).toEqual([100, 5_000]);
    expect(s.server).toEqual([200, 200]);
    expect(s.way_out).toEqual([100, 100]);
    expect(s.slowest_1pct).toEqual({ way_in: 5_000, server: 200, way_out: 100 });
  });
});
