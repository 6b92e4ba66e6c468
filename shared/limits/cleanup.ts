/**
 * Deleting the `limits` table's rows once nobody needs them.
 *
 * - As windows pass: each instance deletes what it wrote (its heartbeats and the callers' rows it had an entry
 *   in) once the window ended DELETE_AFTER_MS ago, since an instance with a slow clock may still write to it. A
 *   shared row may be deleted by any of its writers: one already gone is fine.
 * - As due tasks the poller runs (shared/platform/scheduling/due-tasks.ts): `limits-sweep:<YYYY-MM-DD>`, an hour
 *   after that UTC day ended, deletes what instances that stopped left of the day's minute and day rows;
 *   `limits-sweep:<YYYY-MM-DD>|r`, REJECTIONS_KEPT_DAYS after the day, deletes the day's 429 counts. Each
 *   instance schedules a day's sweeps once, at its first reconcile that day; a second row for the same day finds
 *   nothing left. The work is what that one day left, never a scan of the whole table.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { registerDueTask, scheduleDueTask, type DueTaskContext } from '../platform/scheduling/due-tasks';
import { isNotFound, TABLES, table } from '../platform/storage';
import { dayPartition, isoDay, minutePartition } from './claims';

const DELETE_AFTER_MS = 10_000;
const BATCH = 100;
const DAY_MS = 86_400_000;
const SWEEP_AFTER_MS = 3_600_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

export const LIMITS_SWEEP_TASK = 'limits-sweep';
/** How long the per-hour 429 counts (`listRejections`, `npm run usage`) are kept. */
export const REJECTIONS_KEPT_DAYS = 31;

/** Deletes rows of one partition, batched; rows someone else deleted already are fine. */
async function deleteRows(limits: TableClient, partitionKey: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += BATCH) {
    const chunk = keys.slice(i, i + BATCH);
    try {
      await limits.submitTransaction(
        chunk.map((rowKey): TransactionAction => ['delete', { partitionKey, rowKey }]),
      );
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // One of them was gone already: the others one by one.
      for (const rowKey of chunk) {
        await limits.deleteEntity(partitionKey, rowKey).catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      }
    }
  }
}

/** True when the window of a `m:` or `d:` partition ended before `at`. */
function windowEnded(partition: string, at: number): boolean {
  if (partition.startsWith('m:')) return (Number(partition.slice(2)) + 1) * 60_000 <= at;
  if (partition.startsWith('d:')) return Date.parse(`${partition.slice(2)}T00:00:00Z`) + DAY_MS <= at;
  return false;
}

/**
 * Deletes the rows in `written` (row keys by partition) of passed windows and forgets them; best effort: what
 * fails stays in `written` for the next reconcile.
 */
export async function dropPassed(
  limits: TableClient,
  written: Map<string, Set<string>>,
  now: number,
): Promise<void> {
  for (const [partition, rows] of written) {
    if (!windowEnded(partition, now - DELETE_AFTER_MS)) continue;
    try {
      await deleteRows(limits, partition, [...rows]);
      written.delete(partition);
    } catch {
      // The next reconcile tries again.
    }
  }
}

const scheduled = new Set<string>();

/** Registers the sweep's handler; the poller's function calls it at load. */
export function registerLimitsTasks(): void {
  registerDueTask(LIMITS_SWEEP_TASK, sweepLimits);
}

/** Schedules the sweeps of the UTC day `now` falls in, once per process and day. */
export async function scheduleLimitsSweep(now: number): Promise<void> {
  const day = isoDay(now);
  if (scheduled.has(day)) return;
  const end = Date.parse(`${day}T00:00:00Z`) + DAY_MS;
  await scheduleDueTask(LIMITS_SWEEP_TASK, day, end + SWEEP_AFTER_MS);
  await scheduleDueTask(LIMITS_SWEEP_TASK, `${day}|r`, end + REJECTIONS_KEPT_DAYS * DAY_MS);
  scheduled.add(day);
}

/** The filters of what the sweep `name` deletes, or undefined when the name is not one of ours. */
export function sweepFilters(name: string): string[] | undefined {
  const [day, what] = name.split('|');
  if (!day || !DAY.test(day) || (what !== undefined && what !== 'r')) return undefined;
  if (what === 'r') return [`PartitionKey ge 'r:${day}T00' and PartitionKey le 'r:${day}T23'`];
  const first = Date.parse(`${day}T00:00:00Z`) / 60_000;
  return [
    `PartitionKey eq '${dayPartition(first / 1440)}'`,
    `PartitionKey ge '${minutePartition(first)}' and PartitionKey lt '${minutePartition(first + 1440)}'`,
  ];
}

/** The sweep due task. */
export async function sweepLimits(ctx: DueTaskContext): Promise<'ran' | 'skipped'> {
  const filters = sweepFilters(ctx.name);
  if (!filters) return 'skipped';
  const limits = await table(TABLES.limits);
  let deleted = 0;
  for (const filter of filters) {
    const byPartition = new Map<string, string[]>();
    for await (const row of limits.listEntities({
      queryOptions: { filter, select: ['PartitionKey', 'RowKey'] },
    })) {
      byPartition.set(row.partitionKey!, [...(byPartition.get(row.partitionKey!) ?? []), row.rowKey!]);
    }
    for (const [partition, keys] of byPartition) {
      await deleteRows(limits, partition, keys);
      deleted += keys.length;
    }
  }
  if (deleted > 0) ctx.log.log(JSON.stringify({ event: 'limits.swept', task: ctx.name, deleted }));
  return deleted > 0 ? 'ran' : 'skipped';
}
