/**
 * The work of one claimed poll: ask the upstream, then finalize the job or leave it rescheduled. The tick
 * (poller.ts) selects and claims; this runs either in the tick's process (`runPollerTick`, tests, one-process
 * tools) or in the queue-triggered function (poll-queue.ts), on whichever instance took the message.
 *
 * A work item names the claim it stands for: the due-index key the claiming write pointed the job at. A job that
 * no longer points there was moved on by someone else (a later tick's claim after this one's poll time passed, a
 * cancel, a finalization): the item is stale and is dropped; exactly-once still rests on the job row's ETag.
 */
import type { Response } from 'openai/resources/responses/responses';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { isUpstreamError } from '../platform/errors';
import { newMeter, type Meter } from '../platform/scheduling/due-index';
import { retryAfterMs } from '../platform/scheduling/backoff';
import { claimFinalization, outcomeOf } from './claim';
import { runFinalization } from './finalize';
import { readJob, syncListing, updateJob, type JobStore } from './store';
import { isTerminal, type JobEntity, type JobLog, type JobStatus } from './types';

/**
 * A claimed job handed from the tick to the worker. `poll`: the tick moved the next poll forward (to `dueKey`);
 * ask the upstream. `finalize`: the tick claimed the finalization (expiry) or took over a lapsed lease; run the
 * steps. `old`: the row the job was due at before the claim, stale for good; deleted with the worker's next index
 * write. `job`: the claimed row, when the worker runs in the tick's process (saves a read).
 */
export interface PollWork {
  kind: 'poll' | 'finalize';
  id: string;
  dueKey: string;
  old: string;
  job?: JobEntity;
}

/** What ticks and workers count (benchmarks and the tick log report them). */
export interface PollStats extends Meter {
  /** Upstream polls answered. */
  polled: number;
  /** Jobs finalized. */
  finalized: number;
  /** Jobs polled and left running, rescheduled with backoff. */
  rescheduled: number;
  /** Upstream 429s; each pushed its job's next poll and paused polling. */
  throttled: number;
  /** Jobs another writer held (lost ETag race, live finalization lease, claim superseded). */
  skipped: number;
  errors: number;
}

export const newPollStats = (): PollStats => ({
  ...newMeter(),
  polled: 0,
  finalized: 0,
  rescheduled: 0,
  throttled: 0,
  skipped: 0,
  errors: 0,
});

export interface PollWorkContext {
  store: JobStore;
  stats: PollStats;
  log: JobLog;
  /** The clock of the tick (tests move it forward) or of the worker. */
  clock: () => number;
  /** An upstream call is given at most until this epoch ms (the tick's budget); Infinity in the queue worker. */
  deadline: number;
  /** Upstream asked to slow down until `until` (epoch ms): the caller holds back further polls. */
  pause(until: number): void;
}

/** Runs one claimed work item. Throws only on unexpected (storage) errors; the queue then retries the message. */
export async function runPollWork(ctx: PollWorkContext, work: PollWork): Promise<void> {
  const { store, stats } = ctx;
  const job = work.job ?? (await readJob(store, work.id));
  if (!job || job.dueKey !== work.dueKey) {
    // Superseded or gone. The claiming write landed before the work was handed over, so `old` is stale for good.
    await store.due.remove(work.old);
    stats.skipped++;
    return;
  }
  if (work.kind === 'finalize') {
    await finalize(ctx, job, undefined, [work.old]);
    return;
  }
  await poll(ctx, job, work.old);
}

/** `stale`: index rows the job has left for good (see {@link runFinalization}). */
async function finalize(
  ctx: PollWorkContext,
  job: JobEntity,
  source: Response | undefined,
  stale: readonly string[],
  gone = false,
): Promise<void> {
  const result = await runFinalization(ctx.store, job, source, ctx.log, { gone, now: ctx.clock, stale });
  if (result === 'finalized') ctx.stats.finalized++;
  else if (result === 'failed') ctx.stats.errors++;
}

/** `claimed`: the job as the tick's claim wrote it; `old`: the row it was due at before. */
async function poll(ctx: PollWorkContext, claimed: JobEntity, old: string): Promise<void> {
  const { store, stats, clock } = ctx;
  const config = getConfig();
  let response: Response;
  try {
    stats.upstreamCalls++;
    response = await getOpenAI().responses.retrieve(claimed.responseId, undefined, {
      // No SDK retries: a 429 hint is honoured by rescheduling, not by sleeping inside the call.
      maxRetries: 0,
      timeout: Math.max(1000, Math.min(config.openaiTimeoutMs, ctx.deadline - Date.now())),
    });
  } catch (e) {
    await pollFailed(ctx, claimed, e, old);
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
    await finalize(ctx, owned, response, [claimed.dueKey]);
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
}

/** `old`: the stale row the job was due at before this poll's claim; deleted here. */
async function pollFailed(ctx: PollWorkContext, job: JobEntity, e: unknown, old: string): Promise<void> {
  const { store, stats, clock, log } = ctx;
  const config = getConfig();
  const base = { responseId: job.responseId, caller: job.callerId, poll: job.pollCount };
  const upstream = isUpstreamError(e) ? e : undefined;
  if (upstream?.status === 429) {
    stats.throttled++;
    const wait = retryAfterMs(upstream.headers) ?? 2 * config.pollInitialDelayMs;
    ctx.pause(Date.now() + wait);
    const at = Math.max(job.nextPollAt, clock() + wait);
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
    if (claimed) await finalize(ctx, claimed, undefined, [job.dueKey], true);
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
  log.warn(JSON.stringify({ event: 'job.poll_failed', ...base, status: upstream?.status, error: message }));
}
