/**
 * The local buckets: what this instance counted of each caller in the current minute and UTC day, what the other
 * instances had counted and claimed at the last reconcile, and how much more this instance may admit.
 *
 * Windows are fixed (minute, UTC day), the same on every instance. An instance admits a caller's request while
 * the caller's total stays under the limit AND its own count stays under its *bound*: its committed claim, i.e.
 * its count plus its 1/n share (n = live instances) of what no instance has claimed, written to the caller's
 * shared row with an ETag so that no two instances ever claim the same room (sync.ts). A claim is a lease: an
 * instance that has not renewed it within LEASE_MS stops admitting on it (it holds at its count), so the others
 * may count it as given back later without a second instance using the same room. Before its first claim of a
 * window is committed an instance keeps to a start allowance (5 % of the limit) that the others leave free for
 * it. One instance alone (n = 1) simply has the whole limit.
 */
import type { LimitKind, Limits } from './settings';

export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

export type Quantity = 'requests' | 'tokens';
type Pair = Record<Quantity, number>;
const zero = (): Pair => ({ requests: 0, tokens: 0 });

/** One caller in one kind of window, as this instance sees it. */
export class Meter {
  /** Window number since the epoch (`floor(now / windowMs)`); -1 before first use. */
  index = -1;
  /** This instance's counts in the window (tokens corrected with the actual usage). */
  readonly local = zero();
  /** The other instances' counts at the last reconcile. */
  readonly remote = zero();
  /** The other instances' claims (at least their counts) at the last reconcile. */
  readonly remoteClaim = zero();
  /**
   * How far this instance's count may go: its committed claim (valid until `leaseUntil`), or before the first
   * commit its start allowance; Infinity until first computed.
   */
  readonly bound: Pair = { requests: Infinity, tokens: Infinity };
  /** Counted since the last write to storage. */
  dirty = false;
  /** This instance's claim for the window is committed: the others leave it that room. */
  published = false;
  /** Until when (ms, own clock) the committed claim may be used. */
  leaseUntil = 0;
  /** Live other instances with no row for this caller in the window at the last reconcile; -1: all of them. */
  rowlessOthers = -1;

  constructor(readonly windowMs: number) {}

  /** Moves to the window `now` falls in, starting it empty. */
  at(now: number): this {
    const index = Math.floor(now / this.windowMs);
    if (index !== this.index) {
      this.index = index;
      for (const q of ['requests', 'tokens'] as const) {
        this.local[q] = 0;
        this.remote[q] = 0;
        this.remoteClaim[q] = 0;
        this.bound[q] = Infinity;
      }
      this.dirty = false;
      this.published = false;
      this.leaseUntil = 0;
      this.rowlessOthers = -1;
    }
    return this;
  }

  used(q: Quantity): number {
    return this.local[q] + this.remote[q];
  }

  /** ms until the window ends. */
  resetsIn(now: number): number {
    return (this.index + 1) * this.windowMs - now;
  }

  /**
   * This instance's claim under `limit`: its count plus its 1/n share of what no instance has claimed, where
   * every live instance without a claim yet is assumed to hold a start allowance. Before its own claim is
   * committed (`committed` false) an instance among others keeps to its start allowance.
   */
  share(q: Quantity, limit: number, instances: number, committed = this.published): number {
    const rowless = this.rowlessOthers < 0 ? instances - 1 : this.rowlessOthers;
    const start = startAllowance(limit);
    const unclaimed = Math.max(0, limit - this.local[q] - this.remoteClaim[q] - rowless * start);
    // Whole units: fractions of a request spread over instances could never be admitted anywhere. The last
    // units go to whichever instance commits first (the row's ETag keeps that to one of them).
    let share = Math.floor(unclaimed / Math.max(1, instances));
    if (share === 0 && committed && unclaimed >= 1) share = 1;
    const bound = this.local[q] + share;
    return committed || instances <= 1 ? bound : Math.min(bound, this.local[q] + start);
  }

  /**
   * How far the count may go now. Committed claim while its lease runs; when the lease has lapsed (the
   * reconcile is late) the count itself, so the others may take the room back; and with storage failing and no
   * valid claim, no bound of its own (fail-open across instances: the window's limit still applies here).
   */
  effectiveBound(q: Quantity, limit: number, instances: number, now: number, failing: boolean): number {
    const leased = this.published && now < this.leaseUntil;
    if (failing && !leased) return Infinity;
    if (!this.published) {
      if (this.bound[q] === Infinity) this.bound[q] = this.share(q, limit, instances, false);
      return this.bound[q];
    }
    return leased ? this.bound[q] : this.local[q];
  }
}

/** What an instance may admit of a caller before its row for the window is published: 5 % of the limit. */
export function startAllowance(limit: number): number {
  return Math.max(1, Math.floor(limit * 0.05));
}

/** The minute and day meters of one caller, with the limits last seen for it. */
export class CallerMeters {
  readonly minute = new Meter(MINUTE_MS);
  readonly day = new Meter(DAY_MS);
  limits: Limits | undefined;
  /** Rejections by hour (`YYYY-MM-DDTHH`) and kind, counted locally and written with the reconcile. */
  readonly rejections = new Map<string, Record<LimitKind, number>>();
  rejectionsDirty = false;

  constructor(readonly callerId: string) {}
}

const WHERE: Record<LimitKind, { meter: 'minute' | 'day'; q: Quantity }> = {
  requests_per_minute: { meter: 'minute', q: 'requests' },
  tokens_per_minute: { meter: 'minute', q: 'tokens' },
  tokens_per_day: { meter: 'day', q: 'tokens' },
};

export function meterOf(m: CallerMeters, kind: LimitKind): { meter: Meter; q: Quantity } {
  const where = WHERE[kind];
  return { meter: m[where.meter], q: where.q };
}

/** Why a request is refused: the window's limit is reached, this instance's share is, or it alone exceeds it. */
export type Refusal = 'window' | 'share' | 'too_large';

export interface Verdict {
  kind: LimitKind;
  limit: number;
  /** Used in the window by every instance, as this instance knows it (before this request). */
  used: number;
  cost: number;
  refusal: Refusal;
  /** When a retry can pass, in ms. */
  retryInMs: number;
}

/**
 * The first limit that refuses a request of `cost`, or undefined when all admit it. Meters must be current
 * (`at(now)`); `instances` is the live instance count, `syncMs` the reconcile interval, `failing` whether the
 * last reconcile failed to reach storage.
 */
export function refusal(
  m: CallerMeters,
  limits: Limits,
  cost: Pair,
  now: number,
  instances: number,
  syncMs: number,
  failing = false,
): Verdict | undefined {
  for (const kind of ['requests_per_minute', 'tokens_per_minute', 'tokens_per_day'] as const) {
    const limit = limits[kind];
    if (limit === null) continue;
    const { meter, q } = meterOf(m, kind);
    const used = meter.used(q);
    const c = cost[q];
    const base = { kind, limit, used, cost: c };
    if (c > limit) return { ...base, refusal: 'too_large', retryInMs: 0 };
    if (used + c > limit) return { ...base, refusal: 'window', retryInMs: meter.resetsIn(now) };
    const bound = meter.effectiveBound(q, limit, instances, now, failing);
    // The first request of a window on this instance may exceed its share (one request per instance at most):
    // a request larger than the start allowance would otherwise wait for a reconcile at every window start.
    if (meter.local[q] + c > bound && !(meter.local[q] === 0 && !meter.published)) {
      return { ...base, refusal: 'share', retryInMs: Math.min(syncMs, meter.resetsIn(now)) };
    }
  }
  return undefined;
}

/** Counts an admitted request in both windows. */
export function charge(m: CallerMeters, cost: Pair): void {
  for (const meter of [m.minute, m.day]) {
    meter.local.requests += cost.requests;
    meter.local.tokens += cost.tokens;
    meter.dirty = true;
  }
}
