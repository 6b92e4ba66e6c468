/**
 * One tick of the background poller: the timer selects, workers poll. The tick reads only the jobs that are due
 * (one range query per due-index partition), claims each, and hands the claim to a worker (poll-work.ts): in
 * Azure one Storage queue message per job, taken by the queue-triggered function on whichever instance Flex
 * Consumption runs it (poll-queue.ts); in `runPollerTick`, in the tick's own process. The cost of a tick
 * therefore grows with the number of due jobs, not with the number of jobs ever made, and a tick with nothing
 * due makes no upstream call and sends no message.
 *
 * The claim is the ETag-guarded move of the job's next poll forward. A second poller (another instance, an
 * overlapping tick) loses the ETag race and skips the job; a crash, or a message that is lost or poisoned,
 * leaves the job due again at its next poll time, when a later tick claims it again (the backstop). The row the
 * job was due at is deleted by the worker after the upstream answer, so that when the answer is terminal the
 * delete goes with the finalization claim's new row in one transaction (see the due index in due-index.ts).
 */
import { getConfig } from '../platform/config';
import { claimFinalization, expiredError, takeOverFinalization } from './claim';
import { dueTaskOf } from '../platform/scheduling/due-tasks';
import { idFromDueKey, type Meter } from '../platform/scheduling/due-index';
import { pollDelay } from '../platform/scheduling/backoff';
import { runBounded } from '../platform/scheduling/bounded';
import { newPollStats, runPollWork, type PollStats, type PollWork, type PollWorkContext } from './poll-work';
import { openJobStore, readJob, updateJob } from './store';
import type { JobLog } from './types';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PollerTickOptions {
  /** The tick's clock (epoch ms); tests move it forward. Default: now. */
  now?: number;
  /** Stop starting new work after this many ms. Default POLL_TICK_BUDGET_MS. */
  budgetMs?: number;
  /** Upstream polls in flight at once. Default POLL_CONCURRENCY. */
  concurrency?: number;
  /**
   * Hands a claimed job to a worker (the timer sends it to the poll queue). Default: the work runs here, in the
   * tick, within its concurrency and budget. `meter`: the tick's counts (a sent message is counted there).
   */
  dispatch?: (work: PollWork, meter: Meter) => Promise<void>;
  log: JobLog;
}

export interface PollerTickStats extends PollStats {
  /** Due-index rows read. */
  due: number;
  /** Other features' due tasks run (see due-tasks.ts), and the ones that were stale. */
  tasks: number;
  /** Claims handed to a worker (queue messages when dispatching to the queue). */
  dispatched: number;
  expired: number;
  /** Index rows that no longer matched their job (deleted). */
  stale: number;
  budgetExhausted: boolean;
  durationMs: number;
}

/** Runs one poller tick and returns what it did. */
export async function runPollerTick(options: PollerTickOptions): Promise<PollerTickStats> {
  const config = getConfig();
  const started = Date.now();
  const offset = (options.now ?? started) - started;
  const clock = () => Date.now() + offset;
  const deadline = started + (options.budgetMs ?? config.pollTickBudgetMs);
  const stats: PollerTickStats = {
    ...newPollStats(),
    due: 0,
    tasks: 0,
    dispatched: 0,
    expired: 0,
    stale: 0,
    budgetExhausted: false,
    durationMs: 0,
  };
  const store = await openJobStore(stats);
  const { log } = options;
  let pausedUntil = 0;
  const ctx: PollWorkContext = {
    store,
    stats,
    log,
    clock,
    deadline,
    pause: (until) => (pausedUntil = Math.max(pausedUntil, until)),
  };
  const dispatch = async (work: PollWork): Promise<void> => {
    stats.dispatched++;
    if (options.dispatch) await options.dispatch({ ...work, job: undefined }, stats);
    else await runPollWork(ctx, work);
  };

  const handle = async (key: string): Promise<void> => {
    stats.due++;
    const id = idFromDueKey(key);
    const dueTask = dueTaskOf(id);
    if (dueTask) {
      const ran = await dueTask.task({ key, name: dueTask.name, now: clock(), log });
      if (ran === 'ran') stats.tasks++;
      else stats.stale++;
      await store.due.remove(key);
      return;
    }
    const job = await readJob(store, id);
    if (!job || job.dueKey !== key || job.phase === 'finalized') {
      // A finalized job is never moved again: every row left for it is stale.
      const record = job && (job.phase === 'finalized' ? { dueKey: '', version: Infinity } : job);
      const dropped = await store.due.dropUnlessPending(key, record, () => readJob(store, id));
      // Pending: another writer is moving the job to this row right now; it is theirs.
      if (dropped === 'stale') stats.stale++;
      else stats.skipped++;
      return;
    }
    const now = clock();
    if (job.phase === 'finalizing') {
      const taken = await takeOverFinalization(store, job, now);
      if (!taken) {
        stats.skipped++;
        return;
      }
      log.log(
        JSON.stringify({ event: 'job.finalize_resumed', responseId: job.responseId, steps: job.steps }),
      );
      await dispatch({ kind: 'finalize', id, dueKey: taken.dueKey, old: job.dueKey, job: taken });
      return;
    }
    const expiresAt = job.createdAt + config.jobMaxAgeSeconds * 1000;
    if (now >= expiresAt) {
      const claimed = await claimFinalization(store, job, { status: 'expired', error: expiredError() }, now);
      if (!claimed) {
        stats.skipped++;
        return;
      }
      stats.expired++;
      log.warn(
        JSON.stringify({
          event: 'job.expired',
          responseId: job.responseId,
          caller: job.callerId,
          polls: job.pollCount,
        }),
      );
      await dispatch({ kind: 'finalize', id, dueKey: claimed.dueKey, old: job.dueKey, job: claimed });
      return;
    }
    // Claim the poll by moving the next one forward (never past the expiry, so expiry is noticed on time).
    const next = Math.min(
      now + pollDelay(job.pollCount, config.pollInitialDelayMs, config.pollMaxDelayMs),
      expiresAt,
    );
    const nextKey = await store.due.add(next, job.responseId, job.version + 1);
    const claimed = await updateJob(
      store,
      job,
      { nextPollAt: next, dueKey: nextKey, pollCount: job.pollCount + 1 },
      now,
    );
    if (!claimed) {
      await store.due.remove(nextKey);
      stats.skipped++;
      return;
    }
    // The row the job was due at is stale from here on. Its delete waits for the poll's outcome (the worker's
    // next index write): a terminal response moves the job again, and that move's transaction takes it along.
    await dispatch({ kind: 'poll', id, dueKey: nextKey, old: job.dueKey, job: claimed });
  };

  const gate = async (): Promise<boolean> => {
    for (;;) {
      const t = Date.now();
      if (t >= deadline) {
        stats.budgetExhausted = true;
        return false;
      }
      if (pausedUntil <= t) return true;
      // Upstream asked to slow down: wait out the hint if it ends within the budget, else leave it to the next tick.
      if (pausedUntil >= deadline) {
        stats.budgetExhausted = true;
        return false;
      }
      await sleep(pausedUntil - t);
    }
  };

  await runBounded(
    store.due.due(clock()),
    options.concurrency ?? config.pollConcurrency,
    async (key) => {
      try {
        await handle(key);
      } catch (e) {
        stats.errors++;
        log.error(`job ${idFromDueKey(key)}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    gate,
  );
  stats.durationMs = Date.now() - started;
  return stats;
}
