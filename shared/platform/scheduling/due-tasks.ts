/**
 * Work features schedule on the due index (the jobs table's `due` partition), so the poller's one range query per tick finds it too
 * (a second index would cost every tick a second query, due or not).
 *
 * A task row's id is `<prefix>:<name>`; response ids (`resp_…`) never contain a colon, so the two never mix.
 * Like job rows, task rows are hints: the handler reads what the row names, decides whether anything is still
 * to do, and returns; the poller then deletes the row. A handler that wants to run again later schedules a new
 * row before returning. Handlers must be idempotent: two pollers can meet the same row.
 */
import { table } from '../storage';
import { storageNames } from '../storage-names';
import type { Log } from '../log';
import { DueIndex, newMeter } from './due-index';

export interface DueTaskContext {
  /** The index row (deleted by the poller after the handler returns, whatever it returns). */
  key: string;
  /** The part of the id after `<prefix>:`. */
  name: string;
  /** The tick's clock (epoch ms). */
  now: number;
  log: Log;
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

/** Adds a due-index row that runs `prefix`'s due task for `name` at `at` (epoch ms); returns the row's key. */
export async function scheduleDueTask(prefix: string, name: string, at: number): Promise<string> {
  // Version 0: no record points at a task row, so the index's pending/stale bookkeeping does not apply.
  return (await dueIndex()).add(at, `${prefix}:${name}`, 0);
}

/** Deletes a due task's row (one already gone is fine). */
export async function cancelDueTask(key: string | undefined): Promise<void> {
  if (!key) return;
  await (await dueIndex()).remove(key);
}

async function dueIndex(): Promise<DueIndex> {
  return new DueIndex(await table(storageNames().jobs), newMeter());
}
