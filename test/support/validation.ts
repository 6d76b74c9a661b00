import { expect } from 'vitest';
import { SwitchboardError } from '../../src/errors/catalogue.js';

/**
 * The field a validator names when it refuses its input: runs `fn`, expects it to throw an
 * `SB_ERR_INVALID_ARGUMENT` SwitchboardError, and returns that error's field path. Throws when `fn`
 * accepts the input, so a validator that lets bad input through fails the test.
 */
export function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SwitchboardError);
    expect((e as SwitchboardError).code).toBe('SB_ERR_INVALID_ARGUMENT');
    return (e as SwitchboardError).field;
  }
  throw new Error('expected a validation error');
}
