/**
 * Scheduling shared by the job poller and the webhook delivery timer: backoff math, upstream rate-limit hints,
 * bounded concurrency, and the due index.
 *
 * The due index is a table partition (`due`) whose RowKeys are `<13-digit epoch ms>_<id>`, so "everything due
 * by now" is one range query (`RowKey lt '<now + 1 ms>'`) that reads only due rows, however many rows wait for
 * later. Index rows are hints: the record they point at holds the authoritative `dueKey` (guarded by its
 * ETag), and an index row whose key differs from its record's `dueKey` is stale and deleted when met.
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '../sdk';
import { isNotFound } from '../storage';

export const DUE_PARTITION = 'due';

/** Counts of the storage and upstream calls one tick made (benchmarks report them). */
export interface Meter {
  tableQueries: number;
  tableReads: number;
  tableWrites: number;
  upstreamCalls: number;
}

export const newMeter = (): Meter => ({ tableQueries: 0, tableReads: 0, tableWrites: 0, upstreamCalls: 0 });

const pad = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(13, '0');

/** RowKey of an index row: sorts by time, then id. */
export const dueKey = (at: number, id: string) => `${pad(at)}_${id}`;

/** The id an index row points at. */
export const idFromDueKey = (key: string) => key.slice(14);

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

/**
 * Runs `work` over `items` with at most `concurrency` in flight. Before each item starts, `gate` may delay it
 * (resolving true) or stop the run (resolving false): no further item starts, those in flight finish.
 */
export async function runBounded<T>(
  items: AsyncIterable<T>,
  concurrency: number,
  work: (item: T) => Promise<void>,
  gate: () => Promise<boolean>,
): Promise<void> {
  const iterator = items[Symbol.asyncIterator]();
  let stopped = false;
  // The iterator is shared by the workers; pulls are serialized so each item is taken exactly once.
  let pulling: Promise<unknown> = Promise.resolve();
  const next = (): Promise<IteratorResult<T>> => {
    const result = pulling.then(() => iterator.next());
    pulling = result.catch(() => undefined);
    return result;
  };
  const worker = async () => {
    while (!stopped) {
      if (!(await gate())) {
        stopped = true;
        break;
      }
      const item = await next();
      if (item.done) break;
      await work(item.value);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  } finally {
    await iterator.return?.();
  }
}

/** The `due` partition of a table, seen as a time-ordered queue of ids. */
export class DueIndex {
  constructor(
    private readonly table: TableClient,
    private readonly meter: Meter,
  ) {}

  /** Adds an index row for `id` at `at` (epoch ms) and returns its key. Idempotent. */
  async add(at: number, id: string): Promise<string> {
    const rowKey = dueKey(at, id);
    this.meter.tableWrites++;
    await this.table.upsertEntity({ partitionKey: DUE_PARTITION, rowKey }, 'Replace');
    return rowKey;
  }

  /** Removes an index row; a row already gone is fine. */
  async remove(rowKey: string | undefined): Promise<void> {
    if (!rowKey) return;
    this.meter.tableWrites++;
    await this.table.deleteEntity(DUE_PARTITION, rowKey).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  /** Index rows due at or before `now`, oldest first, fetched page by page as they are consumed. */
  async *due(now: number, pageSize = 200): AsyncGenerator<string> {
    const pages = this.table
      .listEntities({
        queryOptions: {
          filter: odata`PartitionKey eq ${DUE_PARTITION} and RowKey lt ${pad(now + 1)}`,
          select: ['RowKey'],
        },
      })
      .byPage({ maxPageSize: pageSize });
    for (;;) {
      this.meter.tableQueries++;
      const page = await pages.next();
      if (page.done) return;
      for (const row of page.value) yield row.rowKey!;
      if (!page.value.continuationToken) return;
    }
  }
}
