/**
 * The shared row of one caller in one window (`c|<caller id>` in the window's partition of the `limits` table):
 * every instance's count and claim, as one JSON property so that a whole row is read and replaced at once under
 * its ETag. What the instances claim together never exceeds the limit because each claim is computed from the
 * row as it is in storage and committed only if nobody changed the row meanwhile (sync.ts).
 */
import type { Meter, Quantity } from './meters';
import type { Limits } from './settings';

export type Window = 'minute' | 'day';

/**
 * How long a committed claim may be used without being renewed: 30 reconciles, at least 30 s. A claim above its
 * count is renewed at half that; one used up needs no renewing.
 */
export const leaseMs = (syncMs: number) => Math.max(30 * syncMs, 30_000);
/**
 * When the others count an entry not renewed as given back: its lease plus 10 s, far more than the clock skew
 * between instances (the owner stopped admitting on it at the lease's end, by its own clock).
 */
export const freeAfterMs = (syncMs: number) => leaseMs(syncMs) + 10_000;

/** The limits that bound a window's quantities ([requests, tokens]); null: none (the claim is the count). */
export function windowLimits(limits: Limits | undefined, window: Window): [number | null, number | null] {
  if (!limits) return [null, null];
  return window === 'minute'
    ? [limits.requests_per_minute, limits.tokens_per_minute]
    : [null, limits.tokens_per_day];
}

/** One instance's entry: when it was computed (ms, its own clock), its counts and its claims. */
export interface Entry {
  at: number;
  /** Counts: [requests, tokens]. */
  n: [number, number];
  /** Claims: [requests, tokens]; equal to the counts for a quantity without a limit. */
  c: [number, number];
}

export interface ClaimsRow {
  partitionKey: string;
  rowKey: string;
  callerId: string;
  /** JSON of Record<instance id, Entry>. */
  claims: string;
  etag?: string;
}

/** The key under which the entries of instances gone for good are added up (their counts stay counted). */
export const GONE = '_gone';

export const claimsRowKey = (callerId: string) => `c|${callerId}`;
/** Partitions of a window's rows: `m:<minute number since the epoch>` and `d:<YYYY-MM-DD>` (UTC). */
export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
export const minutePartition = (index: number) => `m:${index}`;
export const dayPartition = (index: number) => `d:${isoDay(index * 86_400_000)}`;
export const heartbeatRowKey = (instance: string) => `h|${instance}`;

const Q: Record<Quantity, 0 | 1> = { requests: 0, tokens: 1 };

function isEntry(e: unknown): e is Entry {
  const v = e as Entry;
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof v.at === 'number' &&
    Array.isArray(v.n) &&
    Array.isArray(v.c) &&
    [...v.n, ...v.c].every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}

/** The entries of a row; an unreadable row (written by hand, or by another version) reads as empty. */
export function entriesOf(row: ClaimsRow | undefined): Record<string, Entry> {
  if (!row?.claims) return {};
  try {
    const parsed = JSON.parse(row.claims) as Record<string, unknown>;
    const out: Record<string, Entry> = {};
    for (const [id, e] of Object.entries(parsed)) if (isEntry(e)) out[id] = e;
    return out;
  } catch {
    return {};
  }
}

/**
 * Takes the other instances' entries into `meter`: their counts, and their claims while these may still be in
 * use. An entry not renewed for `freeAfterMs` is an instance that stopped (it stopped admitting on its claim
 * long before, at its lease's end): only its count is kept. `live` are the instances whose heartbeat is
 * current; those without an entry are the ones the start allowance is kept for.
 */
export function absorbEntries(
  meter: Meter,
  entries: Record<string, Entry>,
  self: string,
  live: Iterable<string>,
  now: number,
  freeAfterMs: number,
): void {
  for (const q of ['requests', 'tokens'] as const) {
    meter.remote[q] = 0;
    meter.remoteClaim[q] = 0;
  }
  for (const [id, e] of Object.entries(entries)) {
    if (id === self) continue;
    const inUse = id !== GONE && now - e.at <= freeAfterMs;
    for (const q of ['requests', 'tokens'] as const) {
      const n = e.n[Q[q]];
      meter.remote[q] += n;
      meter.remoteClaim[q] += inUse ? Math.max(n, e.c[Q[q]]) : n;
    }
  }
  let rowless = 0;
  for (const id of live) if (id !== self && !(id in entries)) rowless++;
  meter.rowlessOthers = rowless;
}

/**
 * The row's entries with `self`'s replaced; entries not renewed for `foldAfterMs` are added into one GONE entry
 * (counts kept, claims given back), so a day's row does not grow with every instance that ever served the caller.
 */
export function withEntry(
  entries: Record<string, Entry>,
  self: string,
  entry: Entry,
  now: number,
  foldAfterMs: number,
): string {
  const out: Record<string, Entry> = {};
  let gone: Entry | undefined = entries[GONE] ? { ...entries[GONE], n: [...entries[GONE].n] } : undefined;
  for (const [id, e] of Object.entries(entries)) {
    if (id === self || id === GONE) continue;
    if (now - e.at > foldAfterMs) {
      gone ??= { at: 0, n: [0, 0], c: [0, 0] };
      gone.n = [gone.n[0] + e.n[0], gone.n[1] + e.n[1]];
      gone.c = gone.n;
    } else out[id] = e;
  }
  if (gone) out[GONE] = gone;
  out[self] = entry;
  return JSON.stringify(out);
}
