/**
 * HTTP query strings, checked as strictly as bodies: a parameter the route does not take is
 * INVALID_ARGUMENT naming it, never dropped. A dropped one is a filter or a page size the caller believes
 * is in force (`?conversation_id=` used to stream the whole tenant's events unfiltered).
 */
import { invalid } from './common.js';

/**
 * The parameters of `query` (the text after `?`), each taken at most once unless listed in `lists`,
 * whose values are gathered in order, each split at commas (`?types=a,b&types=c` is a, b, c).
 */
export function checkQuery(
  query: string,
  takes: readonly string[],
  lists: readonly string[] = [],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    const shown = name.slice(0, 64);
    if (!takes.includes(name)) {
      invalid(
        shown === '' ? 'query' : shown,
        takes.length === 0
          ? 'this route takes no query parameters'
          : `unknown query parameter; this route takes ${takes.join(', ')}`,
      );
    }
    if (lists.includes(name)) {
      const list = (out[name] as string[] | undefined) ?? [];
      if (value !== '') list.push(...value.split(','));
      out[name] = list;
    } else {
      if (out[name] !== undefined) invalid(shown, 'given more than once in the query string');
      out[name] = value;
    }
  }
  return out;
}
