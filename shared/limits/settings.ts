/**
 * Which limits apply to a caller: the defaults from the settings (LIMIT_*), overridden per caller on the caller's
 * row of the `callers` table (partition `caller`; row = the key caller's name, or `entra:<object id>`).
 *
 * An override is one of: a number (that limit), `none` (no limit of that kind for this caller, whatever the
 * default) or absent (the default). Overrides are cached for as long as API keys are (30 s), so a change made
 * with `npm run keys -- limits` applies on every instance within that time, and limits set before a caller's
 * first request apply to it.
 */
import { assertCallerName } from '../callers/keys';
import { getConfig } from '../platform/config';
import { isNotFound, TABLES, table } from '../platform/storage';

export const LIMIT_KINDS = ['requests_per_minute', 'tokens_per_minute', 'tokens_per_day'] as const;
export type LimitKind = (typeof LIMIT_KINDS)[number];

/** A limit, or null for none. */
export type Limits = Record<LimitKind, number | null>;

/** What a caller's row says of one kind: a number, `none`, or nothing (the default applies). */
export type Override = number | 'none' | undefined;
export type Overrides = Record<LimitKind, Override>;

const CALLER_PARTITION = 'caller';
/** Property of the caller row holding each kind's override: a decimal string, `none`, or '' (the default). */
const PROPERTY: Record<LimitKind, string> = {
  requests_per_minute: 'limitRequestsPerMinute',
  tokens_per_minute: 'limitTokensPerMinute',
  tokens_per_day: 'limitTokensPerDay',
};

const ENTRA = /^entra:[A-Za-z0-9-]{1,64}$/;

/**
 * The caller id (`key:<name>` or `entra:<object id>`) a CLI argument names: `entra:<oid>` as is, `key:<name>` or
 * a bare key caller name.
 */
export function callerIdFromArg(arg: string): string {
  if (arg.startsWith('entra:')) {
    if (!ENTRA.test(arg)) throw new Error(`'${arg}' is not an Entra caller: use entra:<object id>.`);
    return arg;
  }
  const name = arg.startsWith('key:') ? arg.slice(4) : arg;
  assertCallerName(name);
  return `key:${name}`;
}

/** Row key of a caller's row: the bare name for key callers (as shared/callers/keys.ts writes it), else the id. */
function rowKeyOf(callerId: string): string {
  return callerId.startsWith('key:') ? callerId.slice(4) : callerId;
}

export function defaultLimits(): Limits {
  const c = getConfig();
  return {
    requests_per_minute: c.limitRequestsPerMinute ?? null,
    tokens_per_minute: c.limitTokensPerMinute ?? null,
    tokens_per_day: c.limitTokensPerDay ?? null,
  };
}

function parseOverride(raw: unknown): Override {
  if (raw === 'none') return 'none';
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw !== '' ? Number(raw) : NaN;
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function effective(overrides: Overrides): Limits {
  const defaults = defaultLimits();
  const out = { ...defaults };
  for (const kind of LIMIT_KINDS) {
    const o = overrides[kind];
    if (o === 'none') out[kind] = null;
    else if (o !== undefined) out[kind] = o;
  }
  return out;
}

async function readOverrides(callerId: string): Promise<Overrides> {
  const callers = await table(TABLES.callers);
  let row: Record<string, unknown> = {};
  try {
    row = await callers.getEntity<Record<string, unknown>>(CALLER_PARTITION, rowKeyOf(callerId));
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  return {
    requests_per_minute: parseOverride(row[PROPERTY.requests_per_minute]),
    tokens_per_minute: parseOverride(row[PROPERTY.tokens_per_minute]),
    tokens_per_day: parseOverride(row[PROPERTY.tokens_per_day]),
  };
}

// The same lifetime as the API key cache (shared/callers/keys.ts): a change applies everywhere within it.
const CACHE_MS = 30_000;
/** After a failed read, the defaults are used for this long before storage is asked again. */
const FAILED_READ_MS = 5_000;
const CACHE_MAX = 10_000;
const cache = new Map<string, { limits: Limits; until: number }>();

/**
 * The limits of `callerId`. Answers from the cache without awaiting storage once the caller was seen; a storage
 * failure falls back to the defaults (fail-open to the defaults, not to no limit).
 */
export async function limitsFor(callerId: string, now = Date.now()): Promise<Limits> {
  const hit = cache.get(callerId);
  if (hit && hit.until > now) return hit.limits;
  let limits: Limits;
  let until = now + CACHE_MS;
  try {
    limits = effective(await readOverrides(callerId));
  } catch {
    limits = defaultLimits();
    until = now + FAILED_READ_MS;
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(callerId, { limits, until });
  return limits;
}

export function clearLimitsCacheForTests(): void {
  cache.clear();
}

/** The caller's overrides and the limits in effect, as the CLI shows them. */
export async function describeLimits(callerId: string): Promise<{ overrides: Overrides; effective: Limits }> {
  const overrides = await readOverrides(callerId);
  return { overrides, effective: effective(overrides) };
}

/**
 * Changes a caller's overrides: a number sets it, `none` lifts that limit for the caller, `default` goes back
 * to the default. Works before the caller's first request and before it has a key.
 */
export async function setLimits(
  callerId: string,
  changes: Partial<Record<LimitKind, number | 'none' | 'default'>>,
): Promise<{ overrides: Overrides; effective: Limits }> {
  const callers = await table(TABLES.callers);
  const entity: { partitionKey: string; rowKey: string } & Record<string, string> = {
    partitionKey: CALLER_PARTITION,
    rowKey: rowKeyOf(callerId),
  };
  for (const kind of LIMIT_KINDS) {
    const change = changes[kind];
    if (change === undefined) continue;
    if (change !== 'none' && change !== 'default' && !(Number.isInteger(change) && change > 0)) {
      throw new Error(`${kind}: give a positive integer, 'none' or 'default'; got ${String(change)}.`);
    }
    entity[PROPERTY[kind]] = change === 'default' ? '' : String(change);
  }
  await callers.upsertEntity(entity, 'Merge');
  cache.delete(callerId);
  return describeLimits(callerId);
}
