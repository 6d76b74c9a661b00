/**
 * HTTP query strings, checked as strictly as bodies: a parameter the route does not take is
 * INVALID_ARGUMENT naming it, never dropped. A dropped one is a filter or a page size the caller believes
 * is in force (`?conversation_id=` used to stream the whole tenant's events unfiltered).
 */
import { invalid } from './common.js';

/** `page_token` → `pageToken`: the proto field name of a proto3 JSON name. */
function protoName(jsonName: string): string {
  return jsonName.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * The parameters of `query` (the text after `?`), each taken at most once unless listed in `lists`,
 * whose values are gathered in order, each split at commas (`?types=a,b&types=c` is a, b, c). `takes`
 * names them as proto3 JSON does (`pageSize`); each may also be spelled as its proto field
 * (`page_size`), as a proto3 JSON body may, and comes back under its JSON name. Both spellings in one
 * query are the parameter given twice.
 */
export function checkQuery(
  query: string,
  takes: readonly string[],
  lists: readonly string[] = [],
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [given, value] of new URLSearchParams(query)) {
    const name = takes.includes(given) ? given : takes.find((t) => protoName(t) === given);
    const shown = (name ?? given).slice(0, 64);
    if (name === undefined) {
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
