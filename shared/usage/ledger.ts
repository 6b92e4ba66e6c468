/**
 * The usage ledger: one row per upstream response, table `usage`, PartitionKey `<caller>|<yyyymmddhh>` (the
 * caller id URL-encoded, the UTC hour the response was created in), RowKey = the upstream response id. A row is
 * written create-if-absent, so writing the same response again (a retried write, a re-run finalization, two
 * instances finalizing the same job) changes nothing: a response is counted once however often it is recorded.
 * The hour comes from the response itself (or its job), never from the clock at write time, so a retry after
 * the hour turned still lands on the same row.
 *
 * Two ways in:
 * - {@link writeUsage} awaits the write and throws on failure: for finalizations that record their steps
 *   (background jobs and document summaries, shared/jobs/finalize.ts), whose retry re-runs it.
 * - {@link recordUsage} returns at once and writes in the background with retries: for synchronous and
 *   streamed creates, after the answer is on its way, so recording never delays the caller. What an instance
 *   crash in that window loses is said in the README ("Usage").
 */
import { storageNames } from '../platform/storage-names';
import { isConcurrencyConflict, table } from '../platform/storage';
import type { Log } from '../platform/log';
import { emitUsageMetrics } from './metrics';
import type { UpstreamUsage, UsageEntry, UsageKind, UsageRow } from './types';

export type { UpstreamUsage, UsageEntry, UsageKind, UsageRow };

const HOUR_MS = 3_600_000;

/** `yyyymmddhh` of an epoch-ms time, in UTC (sorts as the hours do). */
export function hourKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13).replace(/[-T]/g, '');
}

/** The partition holding `callerId`'s rows of the hour containing `ms`. */
export function usagePartition(callerId: string, ms: number): string {
  return `${encodeURIComponent(callerId)}|${hourKey(ms)}`;
}

const count = (n: unknown): number =>
  typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.round(n) : 0;

export function toRow(entry: UsageEntry, now = Date.now()): UsageRow {
  const u = entry.usage ?? {};
  return {
    partitionKey: usagePartition(entry.callerId, entry.createdAt),
    rowKey: entry.responseId,
    callerId: entry.callerId,
    deployment: entry.deployment,
    hour: Math.floor(entry.createdAt / HOUR_MS) * 3600,
    status: entry.status,
    kind: entry.kind,
    inputTokens: count(u.input_tokens),
    cachedInputTokens: count(u.input_tokens_details?.cached_tokens),
    outputTokens: count(u.output_tokens),
    reasoningTokens: count(u.output_tokens_details?.reasoning_tokens),
    requests: 1,
    recordedAt: now,
  };
}

/**
 * Writes `entry` once (create-if-absent). True when this call created the row, false when it was there
 * already. Throws when storage fails: the caller retries.
 */
export async function writeUsage(entry: UsageEntry): Promise<boolean> {
  const row = toRow(entry);
  try {
    await (await table(storageNames().usage)).createEntity(row);
  } catch (e) {
    if (isConcurrencyConflict(e)) return false;
    throw e;
  }
  // Only the write that created the row emits metrics, so they count each response once too.
  emitUsageMetrics(row);
  return true;
}

/** Attempts of a background write, and the first wait (doubled each time): about a minute in all. */
const ATTEMPTS = 7;
const FIRST_WAIT_MS = 1_000;

const pending = new Set<Promise<void>>();

/**
 * Records usage without waiting: `source` gives the entry (or undefined when there is nothing to record) and
 * may itself call upstream (a response read back after its stream was cut). Failures are retried with backoff;
 * the last one is logged as `usage.record_failed` with the whole entry, so an operator can replay it.
 */
export function recordUsage(
  source: UsageEntry | (() => Promise<UsageEntry | undefined>),
  log: Log,
  attempts = ATTEMPTS,
): void {
  const run = async () => {
    let entry = typeof source === 'function' ? undefined : source;
    for (let attempt = 1; ; attempt++) {
      try {
        entry ??= typeof source === 'function' ? await source() : source;
        if (!entry) return;
        await writeUsage(entry);
        return;
      } catch (e) {
        if (attempt >= attempts) {
          log.warn(
            JSON.stringify({
              event: 'usage.record_failed',
              entry,
              error: e instanceof Error ? e.message : String(e),
            }),
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, FIRST_WAIT_MS * 2 ** (attempt - 1)));
      }
    }
  };
  const p = run().finally(() => pending.delete(p));
  pending.add(p);
}

/** Resolves once every background write started so far has ended (tests; the host's shutdown hook). */
export async function flushUsage(): Promise<void> {
  while (pending.size > 0) await Promise.allSettled([...pending]);
}

/** Entry for a response the service got back from upstream (its `created_at` is in seconds). */
export function entryOf(
  response: { id: string; created_at?: number | null; status?: string | null; usage?: UpstreamUsage | null },
  callerId: string,
  deployment: string,
  kind: UsageKind,
): UsageEntry {
  const created = typeof response.created_at === 'number' ? response.created_at * 1000 : Date.now();
  return {
    responseId: response.id,
    callerId,
    deployment,
    createdAt: created,
    status: response.status ?? 'completed',
    kind,
    usage: response.usage,
  };
}
