/**
 * Writes the README's settings table from `SETTINGS` (shared/platform/config.ts), so the two cannot drift:
 * `npm run docs:settings`. A unit test fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../shared/platform/config';

const START = '<!-- settings-table:start -->';
const END = '<!-- settings-table:end -->';

export function settingsTable(): string {
  const rows = Object.values(SETTINGS).map((spec) => {
    const required = 'required' in spec && spec.required ? 'yes' : '';
    const fallback =
      'default' in spec && spec.default !== undefined ? `\`${spec.default.replace(/\|/g, '\\|')}\`` : '';
    return `| \`${spec.name}\` | ${required} | ${fallback.length > 60 ? '(see description)' : fallback} | ${spec.description.replace(/\|/g, '\\|')} |`;
  });
  return ['| Setting | Required | Default | What it does |', '| --- | --- | --- | --- |', ...rows].join('\n');
}

export function withSettingsTable(readme: string): string {
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error(`README.md lacks the ${START} / ${END} markers`);
  return `${readme.slice(0, start + START.length)}\n${settingsTable()}\n${readme.slice(end)}`;
}

if (require.main === module) {
  const path = join(__dirname, '..', '..', 'README.md');
  writeFileSync(path, withSettingsTable(readFileSync(path, 'utf8')));
  console.log('README.md settings table updated.');
}
