import { describe, expect, it } from 'vitest';
import { fieldOf } from '../../../test/support/validation.js';
import { checkQuery } from './query.js';

describe('query strings', () => {
  it('takes the listed parameters once each, and list parameters repeated or comma-separated', () => {
    expect(checkQuery('', ['a'])).toEqual({});
    expect(checkQuery('a=1', ['a'])).toEqual({ a: '1' });
    expect(checkQuery('t=x&t=y,z&a=1&t=', ['a', 't'], ['t'])).toEqual({ a: '1', t: ['x', 'y', 'z'] });
  });

  it('takes a parameter spelled as its proto field too (page_size for pageSize), under its JSON name', () => {
    expect(checkQuery('page_size=5&page_token=x', ['pageSize', 'pageToken'])).toEqual({
      pageSize: '5',
      pageToken: 'x',
    });
    // Both spellings: the parameter given twice, named by its JSON name.
    expect(fieldOf(() => checkQuery('page_size=5&pageSize=6', ['pageSize']))).toBe('pageSize');
  });

  it('refuses an unknown parameter, a repeated single one, and any on a route that takes none', () => {
    expect(fieldOf(() => checkQuery('a_c=1', ['aB']))).toBe('a_c');
    expect(fieldOf(() => checkQuery('ab=1', ['aB']))).toBe('ab');
    expect(fieldOf(() => checkQuery('a=1&a=2', ['a']))).toBe('a');
    expect(fieldOf(() => checkQuery('x', []))).toBe('x');
    expect(fieldOf(() => checkQuery('=1', ['a']))).toBe('query');
  });
});
