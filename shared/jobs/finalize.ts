/**
 * Finalization, exactly once. A job's terminal status is *claimed* with an ETag-guarded write (running →
 * finalizing), so of two pollers, two instances, or a poller and a caller's cancel, exactly one wins. The winner
 * holds a lease (`leaseUntil`, and the due index points at the lease's end) while it runs the steps:
 *
 *   1. `stored`: final response JSON → `responses/<id>.json`, generated images → `images`;
 *   2. `hook`: the kind's finalizer (e.g. the document summary);
 *   3. uploaded Files API files deleted upstream, completion webhook queued (idempotent by event id);
 *   4. finalizing → finalized.
 *
 * Steps 1 and 2 are recorded on the job row as they complete. If the host dies or a step throws, the lease
 * runs out (or is released at once on a caught error), the next tick takes the job over and resumes after the
 * last recorded step. Every step is idempotent, so a step interrupted half-way is simply done again.
 *
 * Recording a step renews the lease (moving the due index to its new end) only when long work follows (the
 * kind's hook, upstream file deletes) or less than half of the lease is left; otherwise it is a single ETag
 * write. Index rows the job has left are deleted with the next index write, at the latest with the lease row
 * when the job is finalized, so a finalization right after a poll costs ten table operations, not sixteen.
 */
import type { Response } from 'openai/resources/responses/responses';
import { storeImages } from '../files/images';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { isUpstreamError } from '../platform/errors';
import { isNotFound } from '../platform/storage';
import { reservationFromExtra, settleTokens } from '../limits';
import { sealForCaller } from '../platform/caller-ids';
import { recordJobUsage } from './usage';
import { enqueueWebhookEvent } from '../webhooks/delivery';
import { buildEvent, responseUrl, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events';
import { expiryMessage, FINALIZE_LEASE_MS, moveDue } from './claim';
import { jobFinalizer } from './finalizers';
import {
  deleteResponseJson,
  parseJson,
  readResponseJson,
  storeResponseJson,
  syncListing,
  toJobView,
  updateJob,
  type JobStore,
} from './store';
import type {
  FinalizeStep,
  FinalizerResult,
  JobEntity,
  JobError,
  JobFinalizer,
  JobLog,
  TerminalStatus,
} from './types';

/**
 * The response to store: the one the claimer saw, else the stored copy (a retried finalization), else upstream
 * (an expired job is cancelled upstream first). Undefined when upstream no longer has it.
 */
async function finalResponse(
  store: JobStore,
  job: JobEntity,
  source: Response | undefined,
  log: JobLog,
): Promise<Response | undefined> {
  if (source) return source;
  const stored = await readResponseJson(job.responseId);
  if (stored) return stored;
  const openai = getOpenAI();
  const options = { maxRetries: 0, timeout: Math.min(getConfig().openaiTimeoutMs, 30_000) };
  if (job.status === 'expired') {
    try {
      store.meter.upstreamCalls++;
      return await openai.responses.cancel(job.responseId, options);
    } catch (e) {
      log.warn(
        JSON.stringify({
          event: 'job.expire.cancel_failed',
          responseId: job.responseId,
          error: (e as Error).message,
        }),
      );
    }
  }
  try {
    store.meter.upstreamCalls++;
    return await openai.responses.retrieve(job.responseId, undefined, options);
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) return undefined;
    throw e;
  }
}

/** The stored response says what the job says: a caller's cancel wins, an expired job reads as cancelled. */
function settle(response: Response, job: JobEntity, log: JobLog): Response {
  const status = job.status as TerminalStatus;
  if (status === 'expired') {
    return { ...response, status: 'cancelled', error: { code: 'server_error', message: expiryMessage() } };
  }
  if (response.status !== status) {
    if (status === 'cancelled') {
      log.warn(
        JSON.stringify({
          event: 'job.cancel_wins',
          responseId: job.responseId,
          upstreamStatus: response.status,
        }),
      );
    }
    return { ...response, status };
  }
  return response;
}

function eventTypeFor(job: JobEntity, status: TerminalStatus): WebhookEventType {
  if (job.kind === 'document') return status === 'completed' ? 'document.summarized' : 'document.failed';
  return `response.${status}`;
}

async function deleteUploadedFiles(job: JobEntity, store: JobStore, log: JobLog): Promise<void> {
  const ids = parseJson<string[]>(job.uploadedFileIds) ?? [];
  await Promise.all(
    ids.map(async (id) => {
      store.meter.upstreamCalls++;
      try {
        await getOpenAI().files.delete(id, { maxRetries: 1 });
      } catch (e) {
        if (isUpstreamError(e) && e.status === 404) return;
        log.warn(
          JSON.stringify({
            event: 'job.file_delete_failed',
            responseId: job.responseId,
            fileId: id,
            error: (e as Error).message,
          }),
        );
        throw e;
      }
    }),
  );
}

/** `lost`: another instance took the job over (or it was deleted); `failed`: a step threw, the next tick resumes. */
export type FinalizeResult = 'finalized' | 'lost' | 'failed';

export interface FinalizeOptions {
  /** Upstream no longer has the response: finalize without it. */
  gone?: boolean;
  now?: () => number;
  /** Index rows the job has left for good (the row before the claim). */
  stale?: readonly string[];
}

/**
 * Runs (or resumes) the finalization of a job this instance has just claimed or taken over. On a failed step
 * the error is logged and the lease released at once, so the next tick resumes after the last recorded step.
 * `stale` rows are deleted with the next index write, at the latest together with the lease row once the job is
 * finalized.
 */
export async function runFinalization(
  store: JobStore,
  claimed: JobEntity,
  source: Response | undefined,
  log: JobLog,
  options: FinalizeOptions = {},
): Promise<FinalizeResult> {
  return new Finalization(store, claimed, log, options).run(source);
}

/** One run of the steps over one claimed job; `job` is always the latest row this run wrote. */
class Finalization {
  private job: JobEntity;
  private stale: string[];
  private readonly steps: Set<FinalizeStep>;
  private readonly status: TerminalStatus;
  private readonly finalizer: JobFinalizer | undefined;
  private readonly hasUploads: boolean;
  private readonly clock: () => number;
  /** What the listing showed after step 1, when this run wrote it. */
  private listed: string | undefined;

  constructor(
    private readonly store: JobStore,
    claimed: JobEntity,
    private readonly log: JobLog,
    private readonly options: FinalizeOptions,
  ) {
    this.job = claimed;
    this.stale = [...(options.stale ?? [])];
    this.steps = new Set((claimed.steps ?? '').split(',').filter(Boolean) as FinalizeStep[]);
    this.status = claimed.status as TerminalStatus;
    this.finalizer = jobFinalizer(claimed.kind);
    this.hasUploads = (parseJson<string[]>(claimed.uploadedFileIds) ?? []).length > 0;
    this.clock = options.now ?? Date.now;
  }

  async run(source: Response | undefined): Promise<FinalizeResult> {
    try {
      const hookPending = !!this.finalizer && !this.steps.has('hook');
      let response: Response | undefined;
      if (!this.steps.has('stored') || hookPending) {
        response = this.options.gone
          ? undefined
          : await finalResponse(this.store, this.job, source, this.log);
        if (response) response = settle(response, this.job, this.log);
      }
      if (!this.steps.has('stored') && !(await this.storeResult(response, hookPending))) return 'lost';
      const hookResult = hookPending
        ? await this.runHook(response)
        : parseJson<FinalizerResult>(this.job.hookResult);
      if (hookResult === 'lost') return 'lost';
      await deleteUploadedFiles(this.job, this.store, this.log);
      await this.queueWebhook(hookResult);
      return await this.complete();
    } catch (e) {
      await this.release(e);
      return 'failed';
    }
  }

  /**
   * Records a finished step. The lease is renewed (a due-index move) only when long work follows (the kind's
   * hook, upstream file deletes) or less than half of it is left; otherwise the step is one ETag write.
   */
  private async record(
    step: FinalizeStep,
    longWorkNext: boolean,
    extra: Parameters<typeof updateJob>[2] = {},
  ): Promise<JobEntity | undefined> {
    this.steps.add(step);
    const changes = { ...extra, steps: [...this.steps].join(',') };
    if (!longWorkNext && (this.job.leaseUntil ?? 0) - this.clock() >= FINALIZE_LEASE_MS / 2) {
      return updateJob(this.store, this.job, changes, this.clock());
    }
    const leaseUntil = this.clock() + FINALIZE_LEASE_MS;
    const written = await moveDue(
      this.store,
      this.job,
      leaseUntil,
      { ...changes, leaseUntil },
      this.clock(),
      this.stale,
    );
    // The move's transaction deleted the stale rows; if it won, the row the job left is stale now.
    this.stale = written ? [this.job.dueKey] : [];
    return written;
  }

  /** Step 1: the final response JSON and its images. False when the job was lost meanwhile. */
  private async storeResult(response: Response | undefined, hookPending: boolean): Promise<boolean> {
    if (response) {
      await storeResponseJson(response);
      await storeImages(response);
    }
    // Part of step 1, so a crash re-runs it; the ledger's create-if-absent row counts the response once.
    await recordJobUsage(this.job, this.status, response, this.clock());
    const written = await this.record('stored', hookPending || this.hasUploads);
    if (!written) {
      await this.store.due.removeAll(this.stale);
      // Deleted while we worked (a deleted job must not keep its payload), or taken over (keep it: it is theirs).
      if (!(await stillExists(this.store, this.job))) await deleteResponseJson(this.job.responseId);
      return false;
    }
    this.job = written;
    await syncListing(this.store, this.job);
    this.listed = JSON.stringify(toJobView(this.job));
    return true;
  }

  /** Step 2: the kind's finalizer, its result recorded with the step. */
  private async runHook(response: Response | undefined): Promise<FinalizerResult | 'lost'> {
    const extra = parseJson<Record<string, string>>(this.job.extra) ?? {};
    const result =
      (await this.finalizer!({ job: this.job, status: this.status, response, extra, log: this.log })) ?? {};
    const written = await this.record('hook', this.hasUploads, { hookResult: JSON.stringify(result) });
    if (!written) {
      await this.store.due.removeAll(this.stale);
      return 'lost';
    }
    this.job = written;
    return result;
  }

  /** Step 3: the completion webhook (idempotent by event id). */
  private async queueWebhook(hookResult: FinalizerResult | undefined): Promise<void> {
    const job = this.job;
    const type = (WEBHOOK_EVENT_TYPES as readonly string[]).includes(hookResult?.eventType ?? '')
      ? (hookResult!.eventType as WebhookEventType)
      : eventTypeFor(job, this.status);
    // The ids the job's caller holds: sealed for them, as every answer they got.
    const id = sealForCaller(job.callerId, job.responseId);
    const event = buildEvent(
      type,
      {
        id,
        object: 'response',
        kind: job.kind,
        status: this.status,
        deployment: job.deployment,
        created_at: Math.floor(job.createdAt / 1000),
        completed_at: Math.floor((job.completedAt ?? this.clock()) / 1000),
        error: parseJson<JobError>(job.lastError) ?? null,
        usage: parseJson<NonNullable<Response['usage']>>(job.usage) ?? null,
        url: responseUrl(id),
        ...(hookResult?.eventData ?? {}),
      },
      job.completedAt ?? this.clock(),
    );
    await enqueueWebhookEvent({ callerId: job.callerId, url: job.webhookUrl, event }, this.clock());
  }

  /** Step 4: finalizing → finalized; the lease row and every stale row go. */
  private async complete(): Promise<FinalizeResult> {
    const done = await updateJob(
      this.store,
      this.job,
      { phase: 'finalized', leaseUntil: 0, leaseOwner: '', nextPollAt: 0, dueKey: '', finalizeError: '' },
      this.clock(),
    );
    if (!done) {
      await this.store.due.removeAll(this.stale);
      return 'lost';
    }
    await this.store.due.removeAll([this.job.dueKey, ...this.stale]);
    // Again at the end (a crash right after step 1 may have left the listing behind), unless this run wrote it
    // at step 1 and what callers see of the job has not changed since.
    if (this.listed !== JSON.stringify(toJobView(done))) await syncListing(this.store, done);
    const usage = parseJson<NonNullable<Response['usage']>>(done.usage);
    // Once per job (only the run that wrote `finalized` gets here): the caller's limits get the actual usage.
    settleTokens(reservationFromExtra(done.callerId, parseJson<Record<string, string>>(done.extra)), usage);
    this.log.log(
      JSON.stringify({
        event: 'job.finalized',
        responseId: done.responseId,
        caller: done.callerId,
        kind: done.kind,
        deployment: done.deployment,
        status: this.status,
        polls: done.pollCount,
        ageMs: (done.completedAt ?? this.clock()) - done.createdAt,
        inputTokens: usage?.input_tokens,
        outputTokens: usage?.output_tokens,
      }),
    );
    return 'finalized';
  }

  /**
   * A step threw: logged, and the lease released now rather than after FINALIZE_LEASE_MS, so the next tick after
   * the retry delay resumes. If the release fails too, the lease simply runs out first.
   */
  private async release(e: unknown): Promise<void> {
    const message = e instanceof Error ? e.message : String(e);
    const job = this.job;
    this.log.warn(
      JSON.stringify({
        event: 'job.finalize_failed',
        responseId: job.responseId,
        steps: [...this.steps],
        error: message,
      }),
    );
    const retryAt = this.clock() + Math.max(getConfig().pollInitialDelayMs, 1000);
    try {
      const moved = await moveDue(
        this.store,
        job,
        retryAt,
        {
          leaseUntil: retryAt,
          finalizeError: JSON.stringify({ code: 'finalize_failed', message: message.slice(0, 1000) }),
        },
        this.clock(),
        this.stale,
      );
      if (moved) await this.store.due.remove(job.dueKey);
    } catch (releaseError) {
      this.log.warn(
        JSON.stringify({
          event: 'job.release_failed',
          responseId: job.responseId,
          error: releaseError instanceof Error ? releaseError.message : String(releaseError),
        }),
      );
    }
  }
}

/** Whether the job row still exists. Only "not found" is absence; any other failure is thrown. */
export async function stillExists(store: JobStore, job: JobEntity): Promise<boolean> {
  try {
    store.meter.tableReads++;
    await store.jobs.getEntity(job.partitionKey, job.rowKey);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}
