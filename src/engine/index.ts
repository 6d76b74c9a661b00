/**
 * Public entry of the routing engine: one pure, deterministic engine per partition (tenant).
 * `createEngine` starts empty; `restoreEngine` continues from a snapshot exactly where it was taken.
 */
import type { Engine, EngineSnapshot } from './api.js';
import { type EngineOptions, RoutingEngine } from './engine.js';

export * from './api.js';
export type { EngineOptions } from './engine.js';
export * from './types.js';

export function createEngine(partition: string, options?: EngineOptions): Engine {
  return RoutingEngine.create(partition, options);
}

export function restoreEngine(snapshot: EngineSnapshot, options?: EngineOptions): Engine {
  return RoutingEngine.restore(snapshot, options);
}
