/**
 * `@nats-io/nuid@3` (pulled in by `@nats-io/transport-node`, which itself declares node >= 18) declares
 * `engines.node >= 22`, so `npm ci` on Node 20 prints an EBADENGINE warning. The warning is harmless
 * (README, "Quick start"): nuid needs only `globalThis.crypto.getRandomValues` (global since Node 19),
 * BigInt and Math.random. This checks it on the Node that runs the tests (20 in CI and the image).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);

describe('@nats-io/nuid on this Node', () => {
  it('makes unique 22-character ids with a crypto-random prefix', () => {
    const { nuid, Nuid } = require('@nats-io/nuid') as {
      nuid: { next(): string };
      Nuid: new () => { next(): string };
    };
    expect(typeof globalThis.crypto?.getRandomValues).toBe('function');
    const ids = new Set(Array.from({ length: 50_000 }, () => nuid.next()));
    expect(ids.size).toBe(50_000);
    for (const id of [...ids].slice(0, 100)) expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
    // Two generators: different random prefixes.
    expect(new Nuid().next().slice(0, 12)).not.toBe(new Nuid().next().slice(0, 12));
    const declared = (require('@nats-io/nuid/package.json') as { engines: { node: string } }).engines.node;
    expect(declared, 'if nuid stops declaring >= 22, drop the README note').toMatch(/22/);
    console.info(`nuid declares node ${declared}; it runs on ${process.version}`);
  });
});
