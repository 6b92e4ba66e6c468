/** The parsers behind SETTINGS (config.ts): each turns one raw app setting into its value or a ConfigError naming it. */
import { parseIdSealingKeys, type IdSealingKey } from './sealed-ids';
import { parseWebhookSecret } from './webhook-secret';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export type Parser<T> = (raw: string, name: string) => T;

export interface SettingSpec<T> {
  /** App setting / environment variable name. */
  readonly name: string;
  /** One line for the README's settings table. */
  readonly description: string;
  /** Used when the setting is absent or empty. `undefined` with `required` means the service will not start. */
  readonly default?: string;
  readonly required?: boolean;
  readonly parse: Parser<T>;
}

export const str: Parser<string> = (raw) => raw;

export const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> =>
  (raw, name) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ConfigError(`Setting ${name} must be an integer between ${min} and ${max}; got "${raw}".`);
    }
    return value;
  };

export const bool: Parser<boolean> = (raw, name) => {
  const v = raw.trim().toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return true;
  if (['false', '0', 'no'].includes(v)) return false;
  throw new ConfigError(`Setting ${name} must be true or false; got "${raw}".`);
};

export const url: Parser<string> = (raw, name) => {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new ConfigError(
      `Setting ${name} must be an absolute URL such as https://my-resource.openai.azure.com; got "${raw}".`,
    );
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ConfigError(`Setting ${name} must be an http(s) URL; got "${raw}".`);
  }
  return raw.replace(/\/+$/, '');
};

export const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, name) => {
    if (!(values as string[]).includes(raw)) {
      throw new ConfigError(`Setting ${name} must be one of ${values.join(', ')}; got "${raw}".`);
    }
    return raw as T;
  };

/** A parser from another module, its errors reported as configuration errors. */
export const checked =
  <T>(parse: Parser<T>): Parser<T> =>
  (raw, name) => {
    try {
      return parse(raw, name);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  };

export const sealingKeys: Parser<IdSealingKey[]> = checked(parseIdSealingKeys);
export const upstreamSecret: Parser<string | undefined> = checked(parseWebhookSecret);

export const sharedIds: Parser<ReadonlySet<string>> = (raw, name) => {
  const ids = new Set<string>();
  for (const id of list(raw, name)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(id)) {
      throw new ConfigError(
        `Setting ${name}: '${id.slice(0, 40)}' is not an id (letters, digits, '_', '-', '.', ':'; at most 128 characters).`,
      );
    }
    ids.add(id);
  }
  return ids;
};
