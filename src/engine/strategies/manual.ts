import { idleSince, load, type RoutingStrategy } from './strategy.js';

/** `manual`: nothing automatic; conversations wait for a supervisor's `assign`. The pool still feeds stats. */
export const manual: RoutingStrategy = {
  name: 'manual',
  automatic: false,
  key1: load,
  key2: idleSince,
  width: () => 1,
};
