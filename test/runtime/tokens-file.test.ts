/**
 * `--tokens-file`: API tokens rotated without a restart. The file is re-read when it changes
 * (`--reload-seconds`); a broken or emptied file keeps the tokens in service.
 */
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ReloadingFiles } from '../../src/api/reloading-files.js';
import { parseTokenList } from '../../src/config/index.js';
import { NODE_MAIN, startNodeProcess } from '../support/node-process.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-tokens-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
/** Replaces the file in one rename, as a secret volume update does. */
function put(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(`${p}.tmp`, text);
  renameSync(`${p}.tmp`, p);
  return p;
}

describe('token lists', () => {
  it('takes pairs by comma or line, with comments; refuses what --tokens refuses', () => {
    expect(
      parseTokenList(
        'acme=a1-0123456789abcdef\n# rotating:\nacme=a2-0123456789abcdef, globex=g1-0123456789abcdef # note\n\n',
      ),
    ).toEqual({
      tokens: { acme: ['a1-0123456789abcdef', 'a2-0123456789abcdef'], globex: ['g1-0123456789abcdef'] },
    });
    expect(parseTokenList('acme')).toEqual({
      error: 'line 1, pair 1: not tenant=token (its text is not shown: it may hold a token)',
    });
    expect(parseTokenList('a=x-0123456789abcdef\nb=x-0123456789abcdef')).toEqual({
      error: 'line 2, pair 1: one token is given to both "a" and "b"',
    });
    expect(parseTokenList('a=1-0123456789abcdef,a=2-0123456789abcdef,a=3-0123456789abcdef')).toMatchObject({
      error: expect.stringMatching(/more than 2 tokens/),
    });
  });

  it('a reloading file takes a valid change, keeps its value on a broken one, and retries after a fix', () => {
    const path = put('list', 'acme=a1-0123456789abcdef');
    const seen: string[][] = [];
    const rejected: string[] = [];
    const f = new ReloadingFiles(
      [path],
      () => {
        const r = parseTokenList(readFileSync(path, 'utf8'));
        if ('error' in r) throw new Error(r.error);
        return r.tokens;
      },
      { rejected: (e) => rejected.push(e.message) },
    );
    f.onChange((t) => seen.push(Object.values(t).flat()));
    f.check();
    expect(seen).toEqual([]);
    put('list', 'acme=a2-0123456789abcdef');
    f.check();
    expect(f.value).toEqual({ acme: ['a2-0123456789abcdef'] });
    put('list', 'acme');
    f.check();
    expect(f.value).toEqual({ acme: ['a2-0123456789abcdef'] });
    expect(rejected).toEqual([
      'line 1, pair 1: not tenant=token (its text is not shown: it may hold a token)',
    ]);
    // Checked again and again without a change: reported once, not at every check.
    f.check();
    f.check();
    expect(rejected).toHaveLength(1);
    put('list', 'acme=a3-0123456789abcdef');
    f.check();
    expect(f.value).toEqual({ acme: ['a3-0123456789abcdef'] });
    expect(seen).toEqual([['a2-0123456789abcdef'], ['a3-0123456789abcdef']]);
  });
});

if (!existsSync(NODE_MAIN))
  console.warn(`[tokens-file] the node case is SKIPPED: ${NODE_MAIN} missing (npm test builds it)`);

/** HTTP status of an authenticated read of tenant acme on the node at `httpPort`. */
async function statusWith(httpPort: number, token: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/v1/tenants/acme/queues`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return res.status;
}

describe('a node with --tokens-file', () => {
  it.skipIf(!existsSync(NODE_MAIN))(
    'SIGHUP applies a changed file at once (the timer would take an hour here)',
    async () => {
      const file = put('tokens-hup', 'acme=before-hup-0123456\n');
      const node = await startNodeProcess({ args: ['--tokens-file', file, '--reload-seconds', '3600'] });
      const status = (token: string) => statusWith(node.httpPort, token);
      try {
        expect(await status('before-hup-0123456')).toBe(200);
        put('tokens-hup', 'acme=after-hup-01234567\n');
        await new Promise((r) => setTimeout(r, 300));
        expect(await status('after-hup-01234567')).toBe(401);
        node.child.kill('SIGHUP');
        const end = Date.now() + 5000;
        while ((await status('after-hup-01234567')) !== 200 && Date.now() < end)
          await new Promise((r) => setTimeout(r, 50));
        expect(await status('after-hup-01234567')).toBe(200);
        expect(await status('before-hup-0123456')).toBe(401);
        // The log line travels on the child's stdout pipe, the answers on a socket: the line may arrive
        // after the answers that show the reload, so wait for it (a node that never logs it still fails).
        const logEnd = Date.now() + 5000;
        while (!node.lines().some((l) => l.includes('API tokens reloaded')) && Date.now() < logEnd)
          await new Promise((r) => setTimeout(r, 20));
        expect(node.lines().join('\n')).toContain('API tokens reloaded');
      } finally {
        await node.dispose();
      }
    },
  );

  it.skipIf(!existsSync(NODE_MAIN))(
    'serves the new tokens after the file changes, without a restart; an emptied file changes nothing',
    async () => {
      const file = put('tokens', 'acme=old-token-01234567\n');
      const node = await startNodeProcess({ args: ['--tokens-file', file, '--reload-seconds', '1'] });
      const status = (token: string) => statusWith(node.httpPort, token);
      const until = async (cond: () => Promise<boolean>) => {
        const end = Date.now() + 8000;
        while (!(await cond()) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
        return cond();
      };
      try {
        expect(await status('old-token-01234567')).toBe(200);
        expect(await status('new-token-01234567')).toBe(401);
        // Step 1 of a rotation: both tokens.
        put('tokens', 'acme=old-token-01234567\nacme=new-token-01234567\n');
        expect(await until(async () => (await status('new-token-01234567')) === 200)).toBe(true);
        expect(await status('old-token-01234567')).toBe(200);
        // Step 2: the old one goes.
        put('tokens', 'acme=new-token-01234567\n');
        expect(await until(async () => (await status('old-token-01234567')) === 401)).toBe(true);
        expect(await status('new-token-01234567')).toBe(200);
        // An emptied file would turn authentication off: refused, logged, the tokens stay.
        put('tokens', '# nothing\n');
        await until(async () =>
          node.lines().some((l) => l.includes('API tokens file changed but cannot be used')),
        );
        expect(node.lines().join('\n')).toContain('no tenant=token pair');
        expect(await status('new-token-01234567')).toBe(200);
        expect(await status('anything')).toBe(401);
      } finally {
        await node.dispose();
      }
    },
  );

  it.skipIf(!existsSync(NODE_MAIN))(
    'a broken file is logged once per change, by line and tenant, never its text; a tenant the API refuses keeps the tokens in service',
    async () => {
      const file = put('tokens-broken', 'acme=good-token-0123456\n');
      const node = await startNodeProcess({ args: ['--tokens-file', file, '--reload-seconds', '1'] });
      const status = (token: string) => statusWith(node.httpPort, token);
      const refusals = () =>
        node.lines().filter((l) => l.includes('API tokens file changed but cannot be used'));
      const until = async (cond: () => boolean) => {
        const end = Date.now() + 8000;
        while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
        return cond();
      };
      try {
        expect(await status('good-token-0123456')).toBe(200);
        // A space in the tenant (the API would refuse every call for it): the whole file is refused.
        put('tokens-broken', 'de mo=spaceTok\n');
        expect(await until(() => refusals().length === 1)).toBe(true);
        expect(refusals()[0]).toMatch(/line 1, pair 1: the tenant is not a valid tenant id/);
        expect(await status('good-token-0123456')).toBe(200);
        expect(await status('spaceTok')).toBe(401);
        // A line without '=' (a token pasted alone): named by line, the text not shown.
        put('tokens-broken', 'acme=good-token-0123456\n# next one\nGarbageSecret999\n');
        expect(await until(() => refusals().length === 2)).toBe(true);
        // Three more checks of the unchanged file (every second): nothing more is logged.
        await new Promise((r) => setTimeout(r, 3500));
        expect(refusals()).toHaveLength(2);
        expect(refusals()[1]).toMatch(/line 3, pair 1: not tenant=token/);
        const all = node.lines().join('\n');
        for (const secret of ['spaceTok', 'GarbageSecret999', 'good-token-0123456'])
          expect(all).not.toContain(secret);
        expect(await status('good-token-0123456')).toBe(200);
        // The fix is picked up.
        put('tokens-broken', 'acme=good-token-0123456\nglobex=g-token-0123456789\n');
        expect(await until(() => node.lines().some((l) => l.includes('API tokens reloaded')))).toBe(true);
      } finally {
        await node.dispose();
      }
    },
  );
});
