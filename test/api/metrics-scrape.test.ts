/**
 * `/metrics` needs no token and its render grows with every tenant's queues and agents (security review:
 * one tenant with 3 000 queues made it 11.9 MB and 1.2 s of event loop; 10 concurrent scrapes held
 * /healthz 6 s and other tenants' calls were refused OVERLOADED). Concurrent scrapes share one render,
 * and a render is reused for a short while after.
 */
import { afterEach, expect, it, vi } from 'vitest';
import { METRICS_REUSE_MS } from '../../src/api/http-server.js';
import { type Harness, startHarness } from './support/harness.js';

let h: Harness | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  h = null;
});

it('concurrent scrapes share one render, reused for a short while after', async () => {
  h = await startHarness();
  const registry = h.registry;
  const render = registry.metrics.bind(registry);
  let renders = 0;
  vi.spyOn(registry, 'metrics').mockImplementation(async () => {
    renders++;
    await new Promise((r) => setTimeout(r, 100)); // a render that takes a while
    return `${await render()}# render ${renders}\n`;
  });
  const scrape = async () => {
    const r = await fetch(`http://127.0.0.1:${h!.httpPort}/metrics`);
    expect(r.status).toBe(200);
    return r.text();
  };
  const bodies = await Promise.all(Array.from({ length: 10 }, scrape));
  expect(renders).toBe(1);
  expect(new Set(bodies).size).toBe(1);
  expect(bodies[0]).toContain('switchboard_command_duration_seconds');
  // Just after: the same text.
  expect(await scrape()).toBe(bodies[0]);
  expect(renders).toBe(1);
  // Once the reuse window has passed: rendered again.
  await new Promise((r) => setTimeout(r, METRICS_REUSE_MS + 100));
  expect(await scrape()).toContain('# render 2');
  expect(renders).toBe(2);
});
