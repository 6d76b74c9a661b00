import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../test/support/validation.js';
import { checkQuery } from './query.js';

describe('query strings', () => {
  it('takes the listed parameters once each, and list parameters repeated or comma-separated', () => {
    expect(checkQuery('', ['a'])).toEqual({});
    expect(checkQuery('a=1', ['a'])).toEqual({ a: '1' });
    expect(checkQuery('t=x&t=y,z&a=1&t=', ['a', 't'], ['t'])).toEqual({ a: '1', t: ['x', 'y', 'z'] });
  });

  it('refuses an unknown parameter, a repeated single one, and any on a route that takes none', () => {
    expect(fieldOf(() => checkQuery('a_b=1', ['aB']))).toBe('a_b');
    expect(fieldOf(() => checkQuery('a=1&a=2', ['a']))).toBe('a');
    expect(fieldOf(() => checkQuery('x', []))).toBe('x');
    expect(fieldOf(() => checkQuery('=1', ['a']))).toBe('query');
  });
});
