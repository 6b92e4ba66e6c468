/**
 * One tick of the background poller. It reads only the jobs that are due (one range query on the due index),
 * polls each upstream with bounded concurrency, reschedules it with backoff, and finalizes the ones that ended.
 * The cost of a tick therefore grows with the number of due jobs, not with the number of jobs ever made.
 *
 * Before polling a job the tick moves its next poll forward under the job row's ETag. That write is the poll's
 * claim: a second poller (another instance, an overlapping tick) loses the ETag race and skips the job, and a
 * crash mid-poll leaves the job due again at its next poll time. The row the job was due at is deleted after the
 * upstream answer, so that when the answer is terminal the delete goes with the finalization claim's new row in
 * one transaction (see the due index in schedule.ts).
 */
import type { Response } from 'openai/resources/responses/responses';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { isUpstreamError } from '../platform/errors';
import { claimFinalization, expiredError, outcomeOf, takeOverFinalization } from './claim';
import { runFinalization } from './finalize';
import { dueTaskOf } from '../platform/scheduling/due-tasks';
import { idFromDueKey, newMeter, type Meter } from '../platform/scheduling/due-index';
import { pollDelay, retryAfterMs } from '../platform/scheduling/backoff';
import { runBounded } from '../platform/scheduling/bounded';
import { openJobStore, readJob, syncListing, updateJob } from './store';
import { isTerminal, type JobEntity, type JobLog, type JobStatus } from './types';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PollerTickOptions {
  /** The tick's clock (epoch ms); tests move it forward. Default: now. */
  now?: number;
  /** Stop starting new work after this many ms. Default POLL_TICK_BUDGET_MS. */
  budgetMs?: number;
  /** Upstream polls in flight at once. Default POLL_CONCURRENCY. */
  concurrency?: number;
  log: JobLog;
}

export interface PollerTickStats extends Meter {
  /** Due-index rows read. */
  due: number;
  /** Upstream polls answered. */
  polled: number;
  /** Other features' due tasks run (see due-tasks.ts), and the ones that were stale. */
  tasks: number;
  /** Jobs this tick finalized. */
  finalized: number;
  /** Jobs polled and left running, rescheduled with backoff. */
  rescheduled: number;
  expired: number;
  /** Upstream 429s; each pushed its job's next poll and paused the tick. */
  throttled: number;
  /** Index rows that no longer matched their job (deleted). */
  stale: number;
  /** Jobs another writer held (lost ETag race, live finalization lease, index row of a move in flight). */
  skipped: number;
  errors: number;
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
    ...newMeter(),
    due: 0,
    tasks: 0,
    polled: 0,
    finalized: 0,
    rescheduled: 0,
    expired: 0,
    throttled: 0,
    stale: 0,
    skipped: 0,
    errors: 0,
    budgetExhausted: false,
    durationMs: 0,
  };
  const store = await openJobStore(stats);
  const { log } = options;
  let pausedUntil = 0;

  /** `stale`: index rows the job has left for good (see {@link runFinalization}). */
  const finalize = async (
    job: JobEntity,
    source: Response | undefined,
    stale: readonly string[],
    gone = false,
  ) => {
    const result = await runFinalization(store, job, source, log, { gone, now: clock, stale });
    if (result === 'finalized') stats.finalized++;
    else if (result === 'failed') stats.errors++;
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
      await finalize(taken, undefined, [job.dueKey]);
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
      await finalize(claimed, undefined, [job.dueKey]);
      return;
    }
    await poll(job, now, expiresAt);
  };

  const poll = async (job: JobEntity, now: number, expiresAt: number): Promise<void> => {
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
    // The row the job was due at is stale from here on. Its delete waits for the poll's outcome: a terminal
    // response moves the job again (finalization claim), and that move's transaction takes it along.
    const old = job.dueKey;

    let response: Response;
    try {
      stats.upstreamCalls++;
      response = await getOpenAI().responses.retrieve(job.responseId, undefined, {
        // No SDK retries: a 429 hint is honoured here by rescheduling, not by sleeping inside the tick.
        maxRetries: 0,
        timeout: Math.max(1000, Math.min(config.openaiTimeoutMs, deadline - Date.now())),
      });
    } catch (e) {
      await pollFailed(claimed, e, next, old);
      return;
    }
    stats.polled++;
    if (isTerminal(response.status)) {
      const outcome = outcomeOf(response, claimed.cancelRequested);
      const owned = await claimFinalization(store, claimed, outcome, clock(), {}, [old]);
      if (!owned) {
        // A caller's cancel (or another poller) changed the job meanwhile and owns its ending.
        stats.skipped++;
        return;
      }
      await finalize(owned, response, [claimed.dueKey]);
      return;
    }
    const status: JobStatus = response.status ?? claimed.status;
    // In parallel with the status write, and settled before any of its errors can go unhandled (an unhandled
    // rejection ends the worker process): both are awaited together.
    const update = async () => {
      if (status === claimed.status && !claimed.lastError) return;
      const written = await updateJob(store, claimed, { status, lastError: '' }, clock());
      if (written) await syncListing(store, written);
    };
    await Promise.all([store.due.remove(old), update()]);
    stats.rescheduled++;
  };

  /** `old`: the stale row the job was due at before this poll's claim; deleted here. */
  const pollFailed = async (job: JobEntity, e: unknown, next: number, old: string): Promise<void> => {
    const base = { responseId: job.responseId, caller: job.callerId, poll: job.pollCount };
    const upstream = isUpstreamError(e) ? e : undefined;
    if (upstream?.status === 429) {
      stats.throttled++;
      const wait = retryAfterMs(upstream.headers) ?? 2 * config.pollInitialDelayMs;
      pausedUntil = Math.max(pausedUntil, Date.now() + wait);
      const at = Math.max(next, clock() + wait);
      const key = await store.due.add(at, job.responseId, job.version + 1, [old]);
      const written = await updateJob(
        store,
        job,
        {
          nextPollAt: at,
          dueKey: key,
          lastError: JSON.stringify({
            code: 'rate_limited',
            message: `Azure OpenAI asked to wait ${wait} ms.`,
          }),
        },
        clock(),
      );
      await store.due.remove(written ? job.dueKey : key);
      log.warn(JSON.stringify({ event: 'job.poll_throttled', ...base, retryAfterMs: wait }));
      return;
    }
    if (upstream?.status === 404) {
      // Gone upstream (deleted there, or past Azure's retention): nothing more will happen to it.
      const claimed = await claimFinalization(
        store,
        job,
        {
          status: job.cancelRequested ? 'cancelled' : 'failed',
          error: { code: 'upstream_not_found', message: 'Azure OpenAI no longer has this response.' },
        },
        clock(),
        {},
        [old],
      );
      if (claimed) await finalize(claimed, undefined, [job.dueKey], true);
      return;
    }
    // Transient (5xx, timeout, connection): the job is already rescheduled with backoff; remember why.
    stats.errors++;
    const message = e instanceof Error ? e.message : String(e);
    await Promise.all([
      store.due.remove(old),
      updateJob(
        store,
        job,
        { lastError: JSON.stringify({ code: 'poll_failed', message: message.slice(0, 500) }) },
        clock(),
      ),
    ]);
    log.warn(
      JSON.stringify({
        event: 'job.poll_failed',
        ...base,
        status: upstream?.status,
        error: message,
      }),
    );
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
