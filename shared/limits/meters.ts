/**
 * The local buckets: what this instance counted of each caller in the current minute and UTC day, what the other
 * instances had counted at the last reconcile, and how much more this instance may admit before the next one.
 *
 * Windows are fixed (minute, UTC day), the same on every instance. Between two reconciles, an instance admits a
 * caller's request while the caller's total stays under the limit AND its own count stays under its *bound*: at
 * each reconcile it takes its count plus its 1/n share of what nobody has claimed yet (n = live instances), where
 * what others have claimed is their published count plus their own unused share. It publishes that bound, so
 * the others leave it room. With two instances reconciling at the same moment from each other's previous rows,
 * the two bounds still add up to at most the limit (each takes half of what is left), which is why a caller
 * hammering every instance at once cannot overshoot by more than the requests in flight plus estimation errors.
 * One instance alone (n = 1) simply has the whole limit.
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
  /** The other instances' bounds (count plus unused share) at the last reconcile. */
  readonly remoteBound = zero();
  /** How far this instance's count may go before the next reconcile; Infinity until first computed. */
  readonly bound: Pair = { requests: Infinity, tokens: Infinity };
  /** Changed since the last write to storage. */
  dirty = false;
  /** This instance's row for the window is in storage: the others know its bound. */
  published = false;
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
        this.remoteBound[q] = 0;
        this.bound[q] = Infinity;
      }
      this.dirty = false;
      this.published = false;
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
   * This instance's bound under `limit`: its count plus its share of what no instance has claimed. An instance
   * that has not published a row yet may have started admitting since its last write without the others
   * knowing: each such instance is assumed to hold a small start allowance, and keeps to it until its row is
   * written (one interval at most).
   */
  share(q: Quantity, limit: number, instances: number): number {
    const rowless = this.rowlessOthers < 0 ? instances - 1 : this.rowlessOthers;
    const start = startAllowance(limit);
    const unclaimed = Math.max(0, limit - this.local[q] - this.remoteBound[q] - rowless * start);
    const bound = this.local[q] + unclaimed / Math.max(1, instances);
    return this.published || instances <= 1 ? bound : Math.min(bound, this.local[q] + start);
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
 * (`at(now)`); `instances` is the live instance count, `syncMs` the reconcile interval.
 */
export function refusal(
  m: CallerMeters,
  limits: Limits,
  cost: Pair,
  now: number,
  instances: number,
  syncMs: number,
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
    if (meter.bound[q] === Infinity) meter.bound[q] = meter.share(q, limit, instances);
    // The first request of a window on this instance may exceed its share (one request per instance at most):
    // a request larger than the start allowance would otherwise wait for a reconcile at every window start.
    if (meter.local[q] + c > meter.bound[q] && !(meter.local[q] === 0 && !meter.published)) {
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
