/**
 * Deleting the limits rows of windows that have passed. Each instance deletes what it wrote (its heartbeats and
 * the callers' rows it had an entry in) once the window ended DELETE_AFTER_MS ago, since an instance with a
 * slow clock may still write to it. A shared row may be deleted by any of its writers: one already gone is fine.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { isNotFound } from '../platform/storage';

const DELETE_AFTER_MS = 10_000;
const BATCH = 100;

/** True when the window of a `m:` or `d:` partition ended before `at`. */
function windowEnded(partition: string, at: number): boolean {
  if (partition.startsWith('m:')) return (Number(partition.slice(2)) + 1) * 60_000 <= at;
  if (partition.startsWith('d:')) return Date.parse(`${partition.slice(2)}T00:00:00Z`) + 86_400_000 <= at;
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
    const keys = [...rows];
    try {
      for (let i = 0; i < keys.length; i += BATCH) {
        const chunk = keys.slice(i, i + BATCH);
        try {
          await limits.submitTransaction(
            chunk.map((rowKey): TransactionAction => ['delete', { partitionKey: partition, rowKey }]),
          );
        } catch (e) {
          if (!isNotFound(e)) throw e;
          // One of them was gone already (another writer deleted it): the others one by one.
          for (const rowKey of chunk) {
            await limits.deleteEntity(partition, rowKey).catch((err: unknown) => {
              if (!isNotFound(err)) throw err;
            });
          }
        }
      }
      written.delete(partition);
    } catch {
      // The next reconcile tries again.
    }
  }
}
