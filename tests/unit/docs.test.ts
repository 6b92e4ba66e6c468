import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../shared/platform/config';
import { withSettingsTable } from '../../tools/settings-table';

const root = join(__dirname, '..', '..');

describe('documentation and samples stay in step with the configuration module', () => {
  it('README settings table lists every setting (regenerate with `npm run docs:settings`)', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toBe(withSettingsTable(readme));
  });

  it('local.settings.sample.json uses only names the code reads', () => {
    const sample = JSON.parse(readFileSync(join(root, 'local.settings.sample.json'), 'utf8')) as {
      Values: Record<string, string>;
    };
    const known = new Set<string>([
      ...Object.values(SETTINGS).map((s) => s.name),
      'FUNCTIONS_WORKER_RUNTIME',
    ]);
    expect(Object.keys(sample.Values).filter((name) => !known.has(name))).toEqual([]);
  });
});
