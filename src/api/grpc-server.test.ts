import { describe, expect, it } from 'vitest';
import { EnqueueResponse, EnqueueStatus, GatewayServiceService } from '../gen/switchboard/v1/gateway.js';
import { sharedWriterSerializer } from './grpc-server.js';

const reply: EnqueueResponse = {
  conversationId: 'c-1',
  status: EnqueueStatus.ENQUEUE_STATUS_QUEUED,
  queueId: 'q',
  agentId: undefined,
  agentName: undefined,
  position: 3,
  estimatedWaitMs: 1500,
  nextOpenAtMs: 1_700_000_000_000n,
};

describe('shared-writer reply serializer', () => {
  const fast = sharedWriterSerializer(EnqueueResponse);
  const generated = GatewayServiceService.enqueue.responseSerialize;

  it('gives the generated serializer bytes, call after call', () => {
    const a = fast(reply);
    const b = fast({ ...reply, conversationId: 'c-2', position: 0 });
    expect(a).toEqual(generated(reply));
    expect(b).toEqual(generated({ ...reply, conversationId: 'c-2', position: 0 }));
    expect(EnqueueResponse.decode(a)).toEqual(reply);
  });

  it('a failed encode throws and leaves nothing behind for the next reply', () => {
    expect(() => fast({ ...reply, nextOpenAtMs: 2n ** 70n })).toThrow(/too large/);
    expect(fast(reply)).toEqual(generated(reply));
  });
});
