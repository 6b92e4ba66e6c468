/**
 * What the create paths call: `admitCreate` before anything goes upstream (429 when a limit refuses, the
 * `x-ratelimit-*` headers otherwise) and `settleTokens` once the actual usage is known. Both work on the local
 * buckets and claims only; storage is reached by the reconcile loop (sync.ts), never on the request path (apart from the
 * 30 s-cached read of the caller's limits, and the process's very first reconcile).
 */
import { ApiError } from '../platform/errors';
import type { Log } from '../platform/log';
import { estimateTokens } from './estimate';
import type { CallerMeters, Meter, Verdict } from './meters';
import { defaultLimits, limitsFor, type LimitKind, type Limits } from './settings';
import { hourKey } from './rejections';
import { Reconciler } from './sync';

/** What a create was charged: settled against the actual usage once the response ends. */
export interface Reservation {
  callerId: string;
  /** Estimated tokens charged. */
  tokens: number;
  /** When it was charged (ms): picks the windows the correction applies to. */
  at: number;
}

export interface Admission {
  /** `x-ratelimit-*` headers for the answer (empty when no limit applies). */
  headers: Record<string, string>;
  /** Undefined when no token limit applies (nothing to correct). */
  reservation?: Reservation;
}

/** The `type` of the gateway's own 429s; Azure OpenAI's are `upstream_rate_limit_error` (platform/errors.ts). */
export const GATEWAY_RATE_LIMIT_TYPE = 'gateway_rate_limit_error';

let reconciler: Reconciler | undefined;
const limiter = (): Reconciler => (reconciler ??= new Reconciler());

/** Test and benchmark seam: forget every bucket and stop the loop (the next admission starts afresh). */
export function resetLimiterForTests(): void {
  reconciler?.stop();
  reconciler = undefined;
}

/**
 * At app start: with default limits set, the reconcile loop starts at once, so the instances know of each other
 * (and share the limits) before the first request. Without defaults it starts with the first limited request.
 */
export function startLimitSync(): void {
  try {
    if (Object.values(defaultLimits()).some((limit) => limit !== null)) void limiter().start();
  } catch {
    // Misconfigured: every request answers the configuration error; nothing to start.
  }
}

/** Forces a reconcile now (tests, benchmarks); resolves when it is done. */
export function syncLimitsNow(): Promise<void> {
  return limiter().sync();
}

const NAMES: Record<LimitKind, { name: string; window: string }> = {
  requests_per_minute: { name: 'requests per minute', window: 'this minute' },
  tokens_per_minute: { name: 'tokens per minute', window: 'this minute' },
  tokens_per_day: { name: 'tokens per day', window: 'today (UTC)' },
};

/** OpenAI's duration format for `x-ratelimit-reset-*`: `20ms`, `1s`, `6m0s`, `2h5m0s`. */
export function formatReset(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

/** The `-tokens` headers describe the tokens-per-minute limit, or the daily budget when that is the only one. */
function tokenMeter(m: CallerMeters, limits: Limits): { meter: Meter; limit: number } | undefined {
  if (limits.tokens_per_minute !== null) return { meter: m.minute, limit: limits.tokens_per_minute };
  if (limits.tokens_per_day !== null) return { meter: m.day, limit: limits.tokens_per_day };
  return undefined;
}

function rateLimitHeaders(m: CallerMeters, limits: Limits, now: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const put = (suffix: string, meter: Meter, q: 'requests' | 'tokens', limit: number) => {
    headers[`x-ratelimit-limit-${suffix}`] = String(limit);
    headers[`x-ratelimit-remaining-${suffix}`] = String(Math.max(0, Math.floor(limit - meter.used(q))));
    headers[`x-ratelimit-reset-${suffix}`] = formatReset(meter.resetsIn(now));
  };
  if (limits.requests_per_minute !== null) put('requests', m.minute, 'requests', limits.requests_per_minute);
  const tokens = tokenMeter(m, limits);
  if (tokens) put('tokens', tokens.meter, 'tokens', tokens.limit);
  return headers;
}

function refusedMessage(callerId: string, v: Verdict, instances: number, retryAfter: number): string {
  const { name, window } = NAMES[v.kind];
  const what = v.kind === 'requests_per_minute' ? `${v.cost}` : `~${v.cost} estimated`;
  const head = `The gateway's ${name} limit for caller '${callerId}'`;
  if (v.refusal === 'too_large') {
    return `${head} is ${v.limit}, and this request alone needs ${what}: lower max_output_tokens or the input, or ask the platform team for a higher limit.`;
  }
  const used =
    v.refusal === 'share'
      ? `about ${Math.floor(v.used)} used ${window} across ${instances} instances, this instance's share taken`
      : `${Math.floor(v.used)} used ${window}`;
  return `${head} is reached: limit ${v.limit}, ${used}, this request ${what}. Retry after ${retryAfter} s.`;
}

function countRejection(m: CallerMeters, kind: LimitKind, now: number): void {
  const hour = hourKey(now);
  let counts = m.rejections.get(hour);
  if (!counts) {
    counts = { requests_per_minute: 0, tokens_per_minute: 0, tokens_per_day: 0 };
    m.rejections.set(hour, counts);
  }
  counts[kind]++;
  m.rejectionsDirty = true;
}

/**
 * Admits a create of `callerId` (body as sent) or throws the gateway's 429. Counts it against every limit that
 * applies; the answer carries the returned headers.
 */
export async function admitCreate(
  callerId: string,
  body: Record<string, unknown>,
  log: Log,
  now = Date.now(),
): Promise<Admission> {
  const limits = await limitsFor(callerId, now);
  if (
    limits.requests_per_minute === null &&
    limits.tokens_per_minute === null &&
    limits.tokens_per_day === null
  )
    return { headers: {} };
  const r = limiter();
  await r.start();
  const countsTokens = limits.tokens_per_minute !== null || limits.tokens_per_day !== null;
  const cost = { requests: 1, tokens: countsTokens ? estimateTokens(body) : 0 };
  const { m, instances, verdict } = r.admit(callerId, limits, cost, now);
  if (verdict) {
    countRejection(m, verdict.kind, now);
    const retryAfter = Math.max(1, Math.ceil(verdict.retryInMs / 1000));
    // Information, not a warning: a refusal is the limit working. No key, no body: the caller id and numbers.
    log.log(
      JSON.stringify({
        event: 'limits.rejected',
        caller: callerId,
        limit: verdict.kind,
        value: verdict.limit,
        used: Math.floor(verdict.used),
        cost: verdict.cost,
        reason: verdict.refusal,
        retryAfter,
      }),
    );
    throw new ApiError(
      429,
      refusedMessage(callerId, verdict, instances, retryAfter),
      GATEWAY_RATE_LIMIT_TYPE,
      'rate_limit_exceeded',
      null,
      { ...rateLimitHeaders(m, limits, now), 'retry-after': String(retryAfter) },
    );
  }
  return {
    headers: rateLimitHeaders(m, limits, now),
    reservation: countsTokens ? { callerId, tokens: cost.tokens, at: now } : undefined,
  };
}

/** The headers of a create answered without running (an idempotent replay): nothing is counted. */
export async function peekHeaders(callerId: string, now = Date.now()): Promise<Record<string, string>> {
  const limits = await limitsFor(callerId, now);
  const m = reconciler?.callers.get(callerId);
  if (!m) return {};
  m.minute.at(now);
  m.day.at(now);
  return rateLimitHeaders(m, limits, now);
}

/**
 * Corrects a reservation with the response's actual usage (none: nothing was used). Applies to the windows the
 * reservation was made in, where they are still current; on whichever instance the response ended.
 */
export function settleTokens(
  reservation: Reservation | undefined,
  usage: { input_tokens?: number; output_tokens?: number; total_tokens?: number } | null | undefined,
  now = Date.now(),
): void {
  if (!reservation) return;
  const actual = usage ? (usage.total_tokens ?? (usage.input_tokens ?? 0) + (usage.output_tokens ?? 0)) : 0;
  const delta = actual - reservation.tokens;
  if (!Number.isFinite(delta) || delta === 0) return;
  const r = limiter();
  // An instance that never admitted anything still has to publish the correction.
  void r.start();
  const m = r.meters(reservation.callerId);
  for (const meter of [m.minute, m.day]) {
    meter.at(now);
    if (Math.floor(reservation.at / meter.windowMs) !== meter.index) continue;
    meter.local.tokens += delta;
    meter.dirty = true;
  }
}

/** A reservation as strings for a background job's `extra`, settled when the job is finalized. */
export function reservationExtra(reservation: Reservation | undefined): Record<string, string> | undefined {
  if (!reservation) return undefined;
  return { limitReservedTokens: String(reservation.tokens), limitReservedAt: String(reservation.at) };
}

/** The reservation a job's `extra` carries (see reservationExtra), if any. */
export function reservationFromExtra(
  callerId: string,
  extra: Record<string, string> | undefined,
): Reservation | undefined {
  const tokens = Number(extra?.limitReservedTokens);
  const at = Number(extra?.limitReservedAt);
  if (!extra?.limitReservedTokens || !Number.isFinite(tokens) || !Number.isFinite(at)) return undefined;
  return { callerId, tokens, at };
}
