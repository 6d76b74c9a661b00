/**
 * What the gRPC load test sends: a tenant with one chat queue and agents with ample capacity, an
 * iteration that enqueues a conversation (the measured call) and ends it, and the matching echo
 * iteration — the same two calls with the same request and response sizes to a server that does nothing.
 */
import * as grpc from '@grpc/grpc-js';
import { AdminServiceClient } from '../../src/gen/switchboard/v1/admin.js';
import {
  AgentDeskServiceClient,
  AgentDeskServiceService,
  EndConversationRequest,
} from '../../src/gen/switchboard/v1/agent_desk.js';
import { Outcome, Presence } from '../../src/gen/switchboard/v1/common.js';
import {
  EnqueueRequest,
  EnqueueResponse,
  EnqueueStatus,
  enqueueStatusToJSON,
  GatewayServiceClient,
  GatewayServiceService,
} from '../../src/gen/switchboard/v1/gateway.js';
import { ECHO_ITER_AT, ECHO_ITER_WIDTH, echoPayload, echoService } from '../echo-server.js';
import { chatAgent, chatEnqueue, chatQueue } from './api-requests.js';
import { type GoCall, patchAt } from './drivers.js';
import type { Iteration } from './load-loops.js';

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

function call<Req, Res>(fn: Unary<Req, Res>, self: unknown, req: Req, md: grpc.Metadata): Promise<Res> {
  return new Promise((resolve, reject) => {
    fn.call(self, req, md, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

/** Bytes on the wire of the two calls, measured from real messages (the echo iteration mirrors them). */
export interface MessageSizes {
  enqReqBytes: number;
  enqResBytes: number;
  endReqBytes: number;
}

export interface RouterWorkload {
  iteration: Iteration;
  /** Enqueue answers by status name. */
  statuses: Record<string, number>;
  /** Message sizes of the grpc-js client's iteration… */
  sizes: MessageSizes;
  /** … and of the Go client's (longer ids). */
  goSizes: MessageSizes;
  /** The same iteration for the Go client (loadtest/gclient): Enqueue (must answer ASSIGNED), then End. */
  goCalls: GoCall[];
  close(): void;
}

export const TENANT = 'loadtest';

/** TLS for the load clients (`--tls`): the CA that signed the servers' certificates. */
export interface ClientTls {
  ca: Buffer;
  /** The same CA as a file, for the Go client. */
  caFile: string;
}

/** Channel credentials for the node clients: TLS trusting `tls.ca`, else plaintext. */
export function clientCredentials(tls?: ClientTls): grpc.ChannelCredentials {
  return tls ? grpc.credentials.createSsl(tls.ca) : grpc.credentials.createInsecure();
}
const QUEUE = 'lt-chat';

/** Creates the queue and `agentCount` online agents (100 chats each), then probes one iteration. */
export async function setupRouterWorkload(
  address: string,
  md: grpc.Metadata,
  agentCount: number,
  tenant = TENANT,
  tls?: ClientTls,
): Promise<RouterWorkload> {
  const creds = clientCredentials(tls);
  const admin = new AdminServiceClient(address, creds);
  const desk = new AgentDeskServiceClient(address, creds);
  const gateway = new GatewayServiceClient(address, creds);
  const runId = `lt${Date.now().toString(36)}`;

  await call(
    admin.upsertQueue,
    admin,
    {
      tenant,
      requestId: '',
      queue: chatQueue(QUEUE, {
        name: 'Load test chat',
        requiredSkills: [{ skill: 'support', minLevel: 1 }],
        serviceLevel: { target: 0.9, thresholdSeconds: 10, windowSeconds: 3600 },
      }),
    },
    md,
  );
  for (let i = 0; i < agentCount; i++) {
    const id = `lt-agent-${i}`;
    await call(
      admin.upsertAgent,
      admin,
      {
        tenant,
        requestId: '',
        agent: chatAgent(id, i, 100, { skills: [{ skill: 'support', level: 5 }], teams: ['load'] }),
      },
      md,
    );
    await call(
      desk.setPresence,
      desk,
      { tenant, requestId: '', agentId: id, presence: Presence.PRESENCE_ONLINE },
      md,
    );
  }

  let seq = 0;
  const statuses: Record<string, number> = {};
  // The two requests of an iteration, for both clients.
  const enqueueReq = (id: string, customerId: string): EnqueueRequest =>
    chatEnqueue(tenant, QUEUE, id, customerId);
  const endReq = (conversationId: string): EndConversationRequest => ({
    tenant,
    requestId: '',
    conversationId,
    outcome: Outcome.OUTCOME_RESOLVED,
  });
  let sampleReq: EnqueueRequest | undefined;
  let sampleRes: EnqueueResponse | undefined;
  const iteration: Iteration = (measure) =>
    new Promise((resolve, reject) => {
      const n = seq++;
      const id = `${runId}-${n}`;
      // A bounded set of customers, so returning customers (previous-agent rule) are part of the load.
      const req = enqueueReq(id, `cust-${n % 5000}`);
      const t0 = process.hrtime.bigint();
      gateway.enqueue(req, md, (err, res) => {
        const t1 = process.hrtime.bigint();
        if (err) return reject(err);
        const st = enqueueStatusToJSON(res.status);
        statuses[st] = (statuses[st] ?? 0) + 1;
        if (res.status !== EnqueueStatus.ENQUEUE_STATUS_ASSIGNED) {
          return reject(new Error(`enqueue answered ${st}, not ASSIGNED: agents out of capacity?`));
        }
        measure(t0, t1);
        sampleReq ??= req;
        sampleRes ??= res;
        desk.endConversation(endReq(id), md, (err2) => (err2 ? reject(err2) : resolve()));
      });
    });

  // One probe iteration fixes the message sizes.
  await iteration(() => {});
  const sizes: MessageSizes = {
    enqReqBytes: EnqueueRequest.encode(sampleReq!).finish().length,
    enqResBytes: EnqueueResponse.encode(sampleRes!).finish().length,
    endReqBytes: EndConversationRequest.encode(endReq(sampleReq!.conversation!.id)).finish().length,
  };
  // The Go client's ids: its own run prefix, the iteration number in a fixed-width field, customers
  // from the same bounded set of 5 000 as above.
  const convPlaceholder = '0000000000';
  const goConvId = `${runId}g-${convPlaceholder}`;
  const enqBytes = EnqueueRequest.encode(enqueueReq(goConvId, 'cust-0000')).finish();
  const endBytes = EndConversationRequest.encode(endReq(goConvId)).finish();
  const goCalls: GoCall[] = [
    {
      method: GatewayServiceService.enqueue.path,
      bytes: enqBytes,
      patches: [patchAt(enqBytes, `${runId}g-`, convPlaceholder), patchAt(enqBytes, 'cust-', '0000', 5000)],
      checkStatus: EnqueueStatus.ENQUEUE_STATUS_ASSIGNED,
    },
    {
      method: AgentDeskServiceService.endConversation.path,
      bytes: endBytes,
      patches: [patchAt(endBytes, `${runId}g-`, convPlaceholder)],
    },
  ];
  // What the Go client sends is longer (its ids): an echo beside it must send and answer those sizes.
  const goSizes: MessageSizes = {
    enqReqBytes: enqBytes.length,
    enqResBytes: EnqueueResponse.encode({ ...sampleRes!, conversationId: goConvId }).finish().length,
    endReqBytes: endBytes.length,
  };
  return {
    iteration,
    statuses,
    sizes,
    goSizes,
    goCalls,
    close() {
      admin.close();
      desk.close();
      gateway.close();
    },
  };
}

/** The echo iteration: two unary calls of the router iteration's sizes to the bare echo server. */
export function echoWorkload(
  address: string,
  md: grpc.Metadata,
  sizes: MessageSizes,
  tls?: ClientTls,
): { iteration: Iteration; goCalls: GoCall[]; close(): void } {
  const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');
  const client = new EchoClient(address, clientCredentials(tls));
  const echo = client as unknown as {
    echo: (req: Buffer, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Buffer) => void) => void;
  };
  const first = echoPayload(sizes.enqReqBytes, sizes.enqResBytes);
  const second = echoPayload(sizes.endReqBytes, 0);
  const iteration: Iteration = (measure) =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      echo.echo(first, md, (err) => {
        const t1 = process.hrtime.bigint();
        if (err) return reject(err);
        measure(t0, t1);
        echo.echo(second, md, (err2) => (err2 ? reject(err2) : resolve()));
      });
    });
  // The Go client writes the iteration number into the measured call's filler (after the 4-byte size),
  // so `--trace-calls` can match echo calls by iteration like the router's (`ECHO_ITER_AT`).
  const goCalls: GoCall[] = [
    {
      method: echoService.echo.path,
      bytes: first,
      patches:
        first.length >= ECHO_ITER_AT + ECHO_ITER_WIDTH
          ? [{ offset: ECHO_ITER_AT, width: ECHO_ITER_WIDTH }]
          : [],
    },
    { method: echoService.echo.path, bytes: second, patches: [] },
  ];
  return { iteration, goCalls, close: () => client.close() };
}
