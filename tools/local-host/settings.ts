import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LocalSettingsFile {
  IsEncrypted?: boolean;
  Values?: Record<string, unknown>;
  Host?: { LocalHttpPort?: number | string; CORS?: string };
}

/** `local.settings.json` of the app folder, or an empty object when there is none. */
export function readLocalSettings(appRoot: string): LocalSettingsFile {
  const file = join(appRoot, 'local.settings.json');
  if (!existsSync(file)) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LocalSettingsFile;
  } catch (err) {
    throw new Error(`local.settings.json in ${appRoot} is not valid JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Applies settings to `process.env` the way `func start` does: `local.settings.json` `Values` fill in what the
 * environment does not already define (an exported variable wins); explicit overrides always win.
 * Returns the names that were set, so a host can report them.
 */
export function applySettings(file: LocalSettingsFile, overrides: Record<string, string> = {}): string[] {
  const applied: string[] = [];
  for (const [name, raw] of Object.entries(file.Values ?? {})) {
    if (process.env[name] !== undefined) continue;
    process.env[name] =
      typeof raw === 'string' ? raw : raw === null || raw === undefined ? '' : JSON.stringify(raw);
    applied.push(name);
  }
  for (const [name, value] of Object.entries(overrides)) {
    process.env[name] = value;
    applied.push(name);
  }
  return applied;
}

/**
 * Resolves `%NAME%` placeholders from app settings, as binding expressions in the real host do
 * (`schedule: '%POLL_SCHEDULE%'`). An unknown setting is an error, as it is for the host's indexing.
 */
export function resolvePlaceholders(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new Error(`The app setting "${name}" referenced as %${name}% is not defined.`);
    return v;
  });
}
