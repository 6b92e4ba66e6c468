import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { entryFiles, expandGlob, routePrefixOf } from '../../tools/local-host/app-loader';
import { blobOfEvent } from '../../tools/local-host/blob-events';
import { parseBlobPath } from '../../tools/local-host/blob-storage';
import { compileRoute, matchRoute, sortRoutes } from '../../tools/local-host/routing';
import { applySettings, resolvePlaceholders } from '../../tools/local-host/settings';
import { parseSchedule } from '../../tools/local-host/timers';

function table(entries: [string, string[]][], prefix = 'api') {
  const unknown: string[] = [];
  const routes = sortRoutes(entries.map(([t, m]) => compileRoute(t, m, t, prefix, (c) => unknown.push(c))));
  return { match: (method: string, path: string) => matchRoute(routes, method, path), unknown };
}

describe('route templates', () => {
  it('binds parameters, optional parameters and catch-alls under the prefix', () => {
    const { match } = table([
      ['hello/{name}/{greeting?}', ['GET']],
      ['files/{*path}', ['GET']],
    ]);
    expect(match('GET', '/api/hello/ann')?.params).toEqual({ name: 'ann' });
    expect(match('GET', '/api/hello/ann/hi')?.params).toEqual({ name: 'ann', greeting: 'hi' });
    expect(match('GET', '/api/files/a/b%20c/d.txt')?.params).toEqual({ path: 'a/b c/d.txt' });
    expect(match('GET', '/api/files')?.params).toEqual({});
    expect(match('GET', '/hello/ann')).toBeUndefined();
  });

  it('prefers literal segments over parameters whatever the registration order', () => {
    const { match } = table([
      ['items/{id}', ['GET']],
      ['items/special', ['GET']],
    ]);
    expect(match('GET', '/api/items/special')?.route.template).toBe('items/special');
    expect(match('GET', '/api/items/7')?.route.template).toBe('items/{id}');
  });

  it('applies known constraints and ignores unknown ones with a report', () => {
    const { match, unknown } = table([
      ['n/{id:int:min(10)}', ['GET']],
      ['a/{s:alpha:length(2,3)}', ['GET']],
      ['g/{id:guid}', ['GET']],
      ['r/{code:regex(^\\d{{3}}$)}', ['GET']],
      ['x/{id:madeup}', ['GET']],
    ]);
    expect(match('GET', '/api/n/12')).toBeDefined();
    expect(match('GET', '/api/n/9')).toBeUndefined();
    expect(match('GET', '/api/n/1x')).toBeUndefined();
    expect(match('GET', '/api/a/ab')).toBeDefined();
    expect(match('GET', '/api/a/abcd')).toBeUndefined();
    expect(match('GET', '/api/g/0f8fad5b-d9cb-469f-a165-70867728950e')).toBeDefined();
    expect(match('GET', '/api/g/nope')).toBeUndefined();
    expect(match('GET', '/api/r/123')).toBeDefined();
    expect(match('GET', '/api/r/12')).toBeUndefined();
    expect(match('GET', '/api/x/anything')?.params).toEqual({ id: 'anything' });
    expect(unknown).toEqual(['madeup (in {id:madeup})']);
  });

  it('matches literals case-insensitively, tolerates a trailing slash and filters methods', () => {
    const { match } = table([['Items', ['POST']]]);
    expect(match('POST', '/API/items/')).toBeDefined();
    expect(match('GET', '/api/items')).toBeUndefined();
  });

  it('serves at the root with an empty prefix', () => {
    const { match } = table([['ping', ['GET']]], '');
    expect(match('GET', '/ping')).toBeDefined();
    expect(routePrefixOf({ extensions: { http: { routePrefix: '' } } })).toBe('');
    expect(routePrefixOf({})).toBe('api');
  });
});

describe('app entry files', () => {
  it('expands a glob "main" and loads index.js first', () => {
    const root = mkdtempSync(join(tmpdir(), 'lh-app-'));
    mkdirSync(join(root, 'dist', 'functions'), { recursive: true });
    for (const f of ['a.js', 'index.js', 'z.js', 'a.js.map'])
      writeFileSync(join(root, 'dist', 'functions', f), '');
    writeFileSync(join(root, 'package.json'), JSON.stringify({ main: 'dist/functions/*.js' }));
    expect(entryFiles(root).map((f) => f.slice(root.length + 1))).toEqual([
      'dist/functions/index.js',
      'dist/functions/a.js',
      'dist/functions/z.js',
    ]);
    expect(expandGlob(root, 'dist/**/{a,z}.js')).toHaveLength(2);
  });

  it('fails with a message naming the build when "main" matches nothing', () => {
    const root = mkdtempSync(join(tmpdir(), 'lh-app-'));
    writeFileSync(join(root, 'package.json'), JSON.stringify({ main: 'dist/functions/*.js' }));
    expect(() => entryFiles(root)).toThrow(/Build the app first/);
  });
});

describe('settings', () => {
  const names = ['LH_UNIT_A', 'LH_UNIT_B', 'LH_UNIT_C'];
  afterEach(() => names.forEach((n) => delete process.env[n]));

  it('lets existing environment variables win over local.settings.json, and overrides win over both', () => {
    process.env.LH_UNIT_A = 'from env';
    process.env.LH_UNIT_C = 'from env';
    applySettings(
      { Values: { LH_UNIT_A: 'from file', LH_UNIT_B: 'from file', LH_UNIT_C: 'from file' } },
      { LH_UNIT_C: 'override' },
    );
    expect([process.env.LH_UNIT_A, process.env.LH_UNIT_B, process.env.LH_UNIT_C]).toEqual([
      'from env',
      'from file',
      'override',
    ]);
  });

  it('resolves %SETTING% placeholders and names a missing one', () => {
    expect(resolvePlaceholders('%X%/{name}', { X: 'samples' })).toBe('samples/{name}');
    expect(() => resolvePlaceholders('%NOPE_LH%')).toThrow(/NOPE_LH/);
  });
});

describe('timer schedules', () => {
  it('reads six-field NCRONTAB with seconds first, and hh:mm:ss intervals', () => {
    const from = new Date('2030-01-01T00:00:00.500Z');
    expect(parseSchedule('*/2 * * * * *').next(from).getTime() - from.getTime()).toBeLessThanOrEqual(2000);
    expect(parseSchedule('00:00:05').next(from).getTime() - from.getTime()).toBe(5000);
    expect(() => parseSchedule('*/5 * * * *')).toThrow(/six fields/);
  });
});

describe('blob paths and events', () => {
  it('matches a blob name against the path pattern and returns its values', () => {
    const p = parseBlobPath('samples/{folder}/{file}.json');
    expect(p.container).toBe('samples');
    expect(p.match('a/b.json')).toEqual({ folder: 'a', file: 'b' });
    expect(p.match('a/b.txt')).toBeUndefined();
    expect(parseBlobPath('samples/{name}').match('x/y.txt')).toEqual({ name: 'x/y.txt' });
  });

  it('reads the container and blob from the subject, or from the URL', () => {
    expect(blobOfEvent({ subject: '/blobServices/default/containers/c/blobs/a/b.txt' })).toEqual({
      container: 'c',
      name: 'a/b.txt',
    });
    expect(blobOfEvent({ data: { url: 'http://127.0.0.1:10000/devstoreaccount1/c/a%20b.txt' } })).toEqual({
      container: 'c',
      name: 'a b.txt',
    });
    expect(blobOfEvent({ data: { url: 'https://acct.blob.core.windows.net/c/d.txt' } })).toEqual({
      container: 'c',
      name: 'd.txt',
    });
  });
});
