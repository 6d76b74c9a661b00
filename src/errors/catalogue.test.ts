/**
 * Contract test of the error catalogue (after fastify's test/internals/errors.test.js): every code has a
 * valid gRPC and HTTP status and a retryable flag, codes are unique and stable in form, and every code the
 * API can emit by itself is in the catalogue.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVICE_ERROR_CODES } from '../api/service.js';
import { ERRORS, errorSpec, GrpcCode, isSwitchboardError, SwitchboardError } from './catalogue.js';

const codes = Object.keys(ERRORS);
const grpcValues = new Set<number>(Object.values(GrpcCode));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name);
    if (d.isDirectory()) return sourceFiles(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

describe('error catalogue', () => {
  it('every code is SB_ERR_ + upper snake case, and unique', () => {
    for (const code of codes) expect(code).toMatch(/^SB_ERR_[A-Z][A-Z0-9_]*$/);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('every code has a gRPC status from the spec (never OK) and an HTTP error status', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      expect(grpcValues.has(spec.grpc), `${code} grpc`).toBe(true);
      expect(spec.grpc, `${code} grpc`).not.toBe(GrpcCode.OK);
      expect(Number.isInteger(spec.http) && spec.http >= 400 && spec.http <= 599, `${code} http`).toBe(true);
      expect(typeof spec.retryable, `${code} retryable`).toBe('boolean');
      expect(spec.summary.length, `${code} summary`).toBeGreaterThan(0);
    }
  });

  it('gRPC and HTTP statuses agree in kind (client errors 4xx, server-side conditions 5xx)', () => {
    const serverSide = new Set<number>([
      GrpcCode.INTERNAL,
      GrpcCode.UNAVAILABLE,
      GrpcCode.DEADLINE_EXCEEDED,
      GrpcCode.DATA_LOSS,
      GrpcCode.UNKNOWN,
    ]);
    for (const [code, spec] of Object.entries(ERRORS)) {
      const is5xx = spec.http >= 500;
      expect(is5xx, code).toBe(serverSide.has(spec.grpc));
    }
  });

  it('the statuses a client must not retry blindly are marked not retryable', () => {
    for (const code of [
      'SB_ERR_INVALID_ARGUMENT',
      'SB_ERR_UNAUTHENTICATED',
      'SB_ERR_PERMISSION_DENIED',
      'SB_ERR_PAYLOAD_TOO_LARGE',
    ]) {
      expect(errorSpec(code).retryable, code).toBe(false);
    }
  });

  it('every code the API service can emit by itself exists in the catalogue', () => {
    // An empty list would pass the loop; the service emits at least these itself.
    expect(SERVICE_ERROR_CODES).toEqual(
      expect.arrayContaining([
        'SB_ERR_INVALID_ARGUMENT',
        'SB_ERR_UNAUTHENTICATED',
        'SB_ERR_PERMISSION_DENIED',
      ]),
    );
    for (const code of SERVICE_ERROR_CODES) expect(codes, code).toContain(code);
  });

  it('every SB_ERR_ code written anywhere in src/ exists in the catalogue', () => {
    const used = new Set<string>();
    for (const file of sourceFiles('src')) {
      if (file.includes(`${join('src', 'gen')}`)) continue;
      for (const m of readFileSync(file, 'utf8').matchAll(/SB_ERR_[A-Z0-9_]+/g)) used.add(m[0]);
    }
    expect(used.size).toBeGreaterThan(5);
    for (const code of used) expect(codes, code).toContain(code);
  });

  it('every code in the catalogue is written somewhere in src/ outside it: none is promised and never sent', () => {
    const text = sourceFiles('src')
      .filter((f) => !f.includes(join('src', 'gen')) && !f.endsWith(join('errors', 'catalogue.ts')))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const unused = codes.filter((code) => !new RegExp(`\\b${code}\\b`).test(text));
    expect(unused).toEqual([]);
  });

  it('an unknown code maps to INTERNAL, and errors are recognised by code after structured clone', () => {
    expect(errorSpec('SB_ERR_NO_SUCH_THING')).toBe(ERRORS.SB_ERR_INTERNAL);
    const e = new SwitchboardError('SB_ERR_AGENT_NOT_FOUND', 'no agent "x"', 'agentId');
    const cloned = structuredClone({ code: e.code, message: e.message, field: e.field });
    expect(isSwitchboardError(cloned)).toBe(true);
    expect(isSwitchboardError({ code: 'NOPE', message: '' })).toBe(false);
  });
});
