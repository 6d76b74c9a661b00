import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/wait-for.js';
import { type Harness, startHarness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

type HealthClient = grpc.Client & {
  check(req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void): void;
};

function healthStatus(client: HealthClient, service = ''): Promise<string> {
  return new Promise((resolve, reject) =>
    client.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status))),
  );
}

describe('gRPC health and reflection', () => {
  it('health answers SERVING while the router is ready and NOT_SERVING when it is not', async () => {
    const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
    const client = new Health(
      `127.0.0.1:${h.grpcPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as HealthClient;
    try {
      expect(await healthStatus(client)).toBe('SERVING');
      expect(await healthStatus(client, 'switchboard.v1.GatewayService')).toBe('SERVING');
      // The health status follows the router's readiness (polled by the server, so give it time).
      h.router.isReady = false;
      await waitFor(async () => (await healthStatus(client)) === 'NOT_SERVING', {
        what: 'health to answer NOT_SERVING once the router is not ready',
      });
      h.router.isReady = true;
      await waitFor(async () => (await healthStatus(client)) === 'SERVING', {
        what: 'health to answer SERVING again once the router is ready',
      });
    } finally {
      h.router.isReady = true;
      client.close();
    }
  });

  it('reflection lists the switchboard services and health, as grpcurl would see them', async () => {
    const require = createRequire(import.meta.url);
    const protoPath = require
      .resolve('@grpc/reflection')
      .replace(/build[\\/]src[\\/]index\.js$/, 'build/proto/grpc/reflection/v1/reflection.proto');
    const def = protoLoader.loadSync(protoPath, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.grpc.reflection.v1.ServerReflection(
      `127.0.0.1:${h.grpcPort}`,
      grpc.credentials.createInsecure(),
    );
    let names: string[];
    try {
      const stream = (
        client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, unknown> }
      ).ServerReflectionInfo();
      const answer = new Promise<{ list_services_response: { service: { name: string }[] } }>(
        (resolve, reject) => {
          stream.on('data', (d) => resolve(d as never));
          stream.on('error', reject);
        },
      );
      stream.write({ list_services: '' });
      names = (await answer).list_services_response.service.map((s) => s.name);
      stream.end();
    } finally {
      client.close();
    }
    expect(names).toEqual(
      expect.arrayContaining([
        'switchboard.v1.AdminService',
        'switchboard.v1.AgentDeskService',
        'switchboard.v1.GatewayService',
        'switchboard.v1.StatisticsService',
        'switchboard.v1.EventService',
        'grpc.health.v1.Health',
      ]),
    );
  });
});
