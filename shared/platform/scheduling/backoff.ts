/**
 * How long to wait before trying again: the poll schedule of background jobs, the webhook retry schedule, and the
 * wait an upstream 429 asks for. Pure functions; the callers own the clock.
 */
/**
 * Delay before the next upstream poll of a job that has been polled `pollCount` times: about `initialMs` at
 * first, doubling up to `maxMs`, with ±20 % jitter so jobs created together do not poll in lockstep. Never above
 * `maxMs`. Milliseconds.
 */
export function pollDelay(
  pollCount: number,
  initialMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(0, pollCount), 30));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(maxMs, jittered));
}

/** Delays between webhook delivery attempts (after attempt 1, 2, ...); the last one repeats. Milliseconds. */
export const WEBHOOK_RETRY_DELAYS_MS = [
  5_000,
  30_000,
  2 * 60_000,
  10 * 60_000,
  30 * 60_000,
  3_600_000,
  2 * 3_600_000,
  4 * 3_600_000,
  8 * 3_600_000,
] as const;

/** Delay after the `attempts`-th failed delivery attempt (1-based), with ±10 % jitter. Milliseconds. */
export function webhookRetryDelay(attempts: number, random: () => number = Math.random): number {
  const i = Math.min(Math.max(1, attempts), WEBHOOK_RETRY_DELAYS_MS.length) - 1;
  const base = WEBHOOK_RETRY_DELAYS_MS[i]!;
  return Math.round(base * (0.9 + 0.2 * random()));
}

/**
 * The wait an upstream 429 asks for, from `retry-after-ms` (Azure OpenAI) or `retry-after` (seconds or an HTTP
 * date). Undefined when there is no usable hint. Milliseconds, capped at 10 minutes.
 */
export function retryAfterMs(
  headers: { get(name: string): string | null } | undefined,
  now = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const cap = (ms: number) => Math.min(Math.max(0, Math.round(ms)), 600_000);
  const ms = Number(headers.get('retry-after-ms') ?? NaN);
  if (Number.isFinite(ms) && ms >= 0) return cap(ms);
  const raw = headers.get('retry-after');
  if (!raw) return undefined;
  const seconds = Number(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return cap(seconds * 1000);
  const date = Date.parse(raw);
  return Number.isFinite(date) ? cap(date - now) : undefined;
}
