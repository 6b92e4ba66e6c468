/**
 * Work other features schedule on the jobs due index, so the poller's one range query per tick finds it too
 * (a second index would cost every tick a second query, due or not).
 *
 * A task row's id is `<prefix>:<name>`; response ids (`resp_…`) never contain a colon, so the two never mix.
 * Like job rows, task rows are hints: the handler reads what the row names, decides whether anything is still
 * to do, and returns; the poller then deletes the row. A handler that wants to run again later schedules a new
 * row before returning. Handlers must be idempotent: two pollers can meet the same row.
 */
import type { JobLog } from '../../jobs/types';

export interface DueTaskContext {
  /** The index row (deleted by the poller after the handler returns, whatever it returns). */
  key: string;
  /** The part of the id after `<prefix>:`. */
  name: string;
  /** The tick's clock (epoch ms). */
  now: number;
  log: JobLog;
}

/** Runs a due task; `'skipped'` when there was nothing left to do (the row was stale). */
export type DueTask = (ctx: DueTaskContext) => Promise<'ran' | 'skipped'>;

const tasks = new Map<string, DueTask>();

/** Registers the handler of `prefix` (letters, digits and dashes; one per prefix, registering again replaces it). */
export function registerDueTask(prefix: string, task: DueTask): void {
  if (!/^[a-z0-9-]+$/.test(prefix)) throw new Error(`invalid due task prefix '${prefix}'`);
  tasks.set(prefix, task);
}

/** The handler and name of a due-index id, or undefined for a job's id. */
export function dueTaskOf(id: string): { task: DueTask; name: string } | undefined {
  const colon = id.indexOf(':');
  if (colon < 0) return undefined;
  const task = tasks.get(id.slice(0, colon));
  return task && { task, name: id.slice(colon + 1) };
}
