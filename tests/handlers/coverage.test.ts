/** Every function the app registers has a handler-level test here, so a new route cannot arrive without one. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const sources = (dir: string, suffix: string) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith(suffix))
    .map((f) => readFileSync(join(root, dir, f), 'utf8'));

describe('handler tests', () => {
  it('call every HTTP, timer, blob and queue function registered in functions/', () => {
    const registered = sources('functions', '.ts').flatMap((text) =>
      [...text.matchAll(/app\.(http|timer|storageBlob|storageQueue)\(\s*'([^']+)'/g)].map((m) => ({
        trigger: m[1]!,
        name: m[2]!,
      })),
    );
    expect(registered.filter((r) => r.trigger === 'http').length).toBeGreaterThanOrEqual(16);
    const tests = sources(join('tests', 'handlers'), '.test.ts').join('\n');
    const untested = registered.filter(
      (r) =>
        !tests.includes(`call('${r.name}'`) &&
        !tests.includes(`timerFunction('${r.name}')`) &&
        !tests.includes(`blobFunction('${r.name}')`) &&
        !tests.includes(`queueFunction('${r.name}')`),
    );
    expect(untested).toEqual([]);
  });
});
