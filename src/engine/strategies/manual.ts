import { byLoadThenIdle, type RoutingStrategy } from './strategy.js';

/** `manual`: nothing automatic; conversations wait for a supervisor's `assign`. The pool still feeds stats. */
export const manual: RoutingStrategy = {
  name: 'manual',
  automatic: false,
  compare: byLoadThenIdle,
  width: () => 1,
};
