/**
 * Reads `local.settings.json` `Values` into `process.env` the way `func start` does: variables already in the
 * environment win. Used by the developer tools (`npm start`, `npm run keys`), never by the deployed app.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

export function readLocalSettings(path = join(repoRoot, 'local.settings.json')): Record<string, string> {
  if (!existsSync(path)) return {};
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { Values?: Record<string, string> };
  return parsed.Values ?? {};
}

export function applyLocalSettings(values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
}
