import { describe, expect, it } from 'vitest';
import { demoInstructions } from './demo.js';

const ports = { httpPort: 8443, grpcPort: 50443 };

describe('--demo banner', () => {
  it('without TLS: http:// and grpcurl -plaintext', () => {
    const b = demoInstructions({ ...ports, authenticated: false, loaded: true });
    expect(b).toContain('curl -s -X POST http://localhost:8443/v1/tenants/demo/conversations');
    expect(b).toContain('grpcurl -plaintext localhost:50443 list');
    expect(b).not.toContain('https://');
  });

  it('with TLS: https:// and the CA for curl and grpcurl, never http:// or -plaintext', () => {
    const b = demoInstructions({ ...ports, authenticated: true, tls: { clientCa: false }, loaded: true });
    expect(b).toContain(
      'curl -s --cacert ca.pem -X POST https://localhost:8443/v1/tenants/demo/conversations -H "authorization: Bearer $TOKEN"',
    );
    expect(b).toContain('curl -s --cacert ca.pem https://localhost:8443/metrics');
    expect(b).toContain('grpcurl -cacert ca.pem -H "authorization: Bearer $TOKEN" localhost:50443 list');
    expect(b).toMatch(/TLS is on: ca\.pem below stands for the CA that signed the node's certificate/);
    expect(b).not.toContain('http://');
    expect(b).not.toContain('-plaintext');
  });

  it('with mutual TLS: grpcurl also presents a client certificate (the HTTP port does not ask for one)', () => {
    const b = demoInstructions({ ...ports, authenticated: false, tls: { clientCa: true }, loaded: true });
    expect(b).toContain('grpcurl -cacert ca.pem -cert client.pem -key client.key localhost:50443 list');
    expect(b).toContain('curl -s --cacert ca.pem https://localhost:8443/v1/tenants/demo/queue-stats');
  });

  it('claims "10 agents online" only when this start loaded the tenant', () => {
    expect(demoInstructions({ ...ports, authenticated: false, loaded: true })).toContain('10 agents online');
    const again = demoInstructions({ ...ports, authenticated: false, loaded: false });
    expect(again).not.toContain('agents online');
    expect(again).toContain('was already here (loaded by an earlier run)');
  });
});
