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
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Response } from 'openai/resources/responses/responses';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { isUpstreamError } from '../platform/errors';
import { storeImages } from '../files/images';
import { enqueueWebhookEvent } from '../webhooks/delivery';
import { buildEvent, responseUrl, WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events';
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
import type { FinalizeStep, FinalizerResult, JobEntity, JobError, JobLog, TerminalStatus } from './types';

/** How long a finalizer may work before another poller may take the job over. */
export const FINALIZE_LEASE_MS = 120_000;

/** Identifies this process in `leaseOwner` (diagnostics only: the ETag is what excludes others). */
export const INSTANCE_ID = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;

export interface TerminalOutcome {
  status: TerminalStatus;
  error?: JobError;
  usage?: Response['usage'];
}

/** The terminal outcome an upstream response reports, with "cancel wins" applied. */
export function outcomeOf(response: Response, cancelRequested: boolean | undefined): TerminalOutcome {
  const upstream = response.status as TerminalStatus;
  const status: TerminalStatus = cancelRequested ? 'cancelled' : upstream;
  let error: JobError | undefined;
  if (response.error) error = { code: response.error.code, message: response.error.message };
  else if (status === 'incomplete' && response.incomplete_details?.reason) {
    error = {
      code: 'incomplete',
      message: `The response is incomplete: ${response.incomplete_details.reason}.`,
    };
  }
  return { status, error: status === 'cancelled' ? undefined : error, usage: response.usage };
}

/**
 * Moves a job's due-index entry: new index row first (deleting the `stale` rows in the same transaction), then
 * the job row (ETag). The row the job leaves (`job.dueKey`) is stale from then on but not deleted here: the
 * caller deletes it with its next index write. Undefined when the write lost; the new row is then removed.
 */
async function moveDue(
  store: JobStore,
  job: JobEntity,
  at: number,
  changes: Parameters<typeof updateJob>[2],
  now: number,
  stale: readonly string[] = [],
): Promise<JobEntity | undefined> {
  const key = await store.due.add(at, job.responseId, job.version + 1, stale);
  const written = await updateJob(store, job, { ...changes, nextPollAt: at, dueKey: key }, now);
  if (!written) await store.due.remove(key);
  return written;
}

/**
 * Claims the finalization of a running job with its terminal outcome. Returns the claimed job (holding the
 * lease), or undefined when someone else changed the job first: they own what happens next. `stale`: index
 * rows known stale for good, deleted on the way. On success the row `job` pointed at is stale too: pass it to
 * {@link runFinalization} (`stale`), which deletes it with its next index write.
 */
export async function claimFinalization(
  store: JobStore,
  job: JobEntity,
  outcome: TerminalOutcome,
  now = Date.now(),
  more: Parameters<typeof updateJob>[2] = {},
  stale: readonly string[] = [],
): Promise<JobEntity | undefined> {
  if (job.phase !== 'running') {
    await store.due.removeAll(stale);
    return undefined;
  }
  const leaseUntil = now + FINALIZE_LEASE_MS;
  const claimed = await moveDue(
    store,
    job,
    leaseUntil,
    {
      phase: 'finalizing',
      status: outcome.status,
      lastError: outcome.error ? JSON.stringify(outcome.error) : '',
      // Usage is recorded here, once per job: this write happens for exactly one claimer.
      usage: outcome.usage ? JSON.stringify(outcome.usage) : (job.usage ?? ''),
      completedAt: now,
      leaseUntil,
      leaseOwner: INSTANCE_ID,
      steps: '',
      ...more,
    },
    now,
    stale,
  );
  // The listing shows the terminal status once the final JSON is stored (step 1), not here: whoever sees a
  // terminal status in GET /v1/jobs can retrieve the response from the record.
  return claimed;
}

/**
 * Takes over a finalizing job whose lease has run out. Undefined if another poller got it first. On success the
 * row `job` pointed at is stale: pass it to {@link runFinalization} (`stale`).
 */
export async function takeOverFinalization(
  store: JobStore,
  job: JobEntity,
  now = Date.now(),
): Promise<JobEntity | undefined> {
  if (job.phase !== 'finalizing' || (job.leaseUntil ?? 0) > now) return undefined;
  const leaseUntil = now + FINALIZE_LEASE_MS;
  return moveDue(store, job, leaseUntil, { leaseUntil, leaseOwner: INSTANCE_ID }, now);
}

function expiryMessage(): string {
  return `The background response did not finish within JOB_MAX_AGE_SECONDS (${getConfig().jobMaxAgeSeconds} s); the gateway expired it and asked Azure OpenAI to cancel it.`;
}

export const expiredError = (): JobError => ({ code: 'expired', message: expiryMessage() });

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

/**
 * Runs (or resumes) the finalization of a job this instance has just claimed or taken over. On a failed step
 * the error is logged and the lease released at once, so the next tick resumes after the last recorded step.
 * `stale`: index rows the job has left for good (the row before the claim); they are deleted with the next
 * index write, at the latest together with the lease row once the job is finalized.
 */
export async function runFinalization(
  store: JobStore,
  claimed: JobEntity,
  source: Response | undefined,
  log: JobLog,
  options: { gone?: boolean; now?: () => number; stale?: readonly string[] } = {},
): Promise<FinalizeResult> {
  const clock = options.now ?? Date.now;
  let job = claimed;
  let stale = [...(options.stale ?? [])];
  const status = job.status as TerminalStatus;
  const steps = new Set((job.steps ?? '').split(',').filter(Boolean) as FinalizeStep[]);
  const finalizer = jobFinalizer(job.kind);
  /**
   * Records a finished step. The lease is renewed (a due-index move) only when long work follows (the kind's
   * hook, upstream file deletes) or less than half of it is left; otherwise the step is one ETag write.
   */
  const record = async (
    step: FinalizeStep,
    longWorkNext: boolean,
    extra: Parameters<typeof updateJob>[2] = {},
  ) => {
    steps.add(step);
    const changes = { ...extra, steps: [...steps].join(',') };
    if (!longWorkNext && (job.leaseUntil ?? 0) - clock() >= FINALIZE_LEASE_MS / 2) {
      return updateJob(store, job, changes, clock());
    }
    const leaseUntil = clock() + FINALIZE_LEASE_MS;
    const written = await moveDue(store, job, leaseUntil, { ...changes, leaseUntil }, clock(), stale);
    // The move's transaction deleted the stale rows; if it won, the row the job left is stale now.
    stale = written ? [job.dueKey] : [];
    return written;
  };
  const uploads = (parseJson<string[]>(job.uploadedFileIds) ?? []).length > 0;
  let listed: string | undefined;
  try {
    let response: Response | undefined;
    if (!steps.has('stored') || (finalizer && !steps.has('hook'))) {
      response = options.gone ? undefined : await finalResponse(store, job, source, log);
      if (response) response = settle(response, job, log);
    }
    if (!steps.has('stored')) {
      if (response) {
        await storeResponseJson(response);
        await storeImages(response);
      }
      const written = await record('stored', (!!finalizer && !steps.has('hook')) || uploads);
      if (!written) {
        await store.due.removeAll(stale);
        // Gone (deleted while we worked) or taken over; a deleted job must not keep its payload.
        if (!(await stillExists(store, job))) await deleteResponseJson(job.responseId);
        return 'lost';
      }
      job = written;
      await syncListing(store, job);
      listed = JSON.stringify(toJobView(job));
    }
    let hookResult = parseJson<FinalizerResult>(job.hookResult);
    if (finalizer && !steps.has('hook')) {
      const extra = parseJson<Record<string, string>>(job.extra) ?? {};
      hookResult = (await finalizer({ job, status, response, extra, log })) ?? {};
      const written = await record('hook', uploads, { hookResult: JSON.stringify(hookResult) });
      if (!written) {
        await store.due.removeAll(stale);
        return 'lost';
      }
      job = written;
    }
    await deleteUploadedFiles(job, store, log);
    const type = (WEBHOOK_EVENT_TYPES as readonly string[]).includes(hookResult?.eventType ?? '')
      ? (hookResult!.eventType as WebhookEventType)
      : eventTypeFor(job, status);
    const event = buildEvent(
      type,
      {
        id: job.responseId,
        object: 'response',
        kind: job.kind,
        status,
        deployment: job.deployment,
        created_at: Math.floor(job.createdAt / 1000),
        completed_at: Math.floor((job.completedAt ?? clock()) / 1000),
        error: parseJson<JobError>(job.lastError) ?? null,
        usage: parseJson<NonNullable<Response['usage']>>(job.usage) ?? null,
        url: responseUrl(job.responseId),
        ...(hookResult?.eventData ?? {}),
      },
      job.completedAt ?? clock(),
    );
    await enqueueWebhookEvent({ callerId: job.callerId, url: job.webhookUrl, event }, clock());
    const done = await updateJob(
      store,
      job,
      { phase: 'finalized', leaseUntil: 0, leaseOwner: '', nextPollAt: 0, dueKey: '', finalizeError: '' },
      clock(),
    );
    if (!done) {
      await store.due.removeAll(stale);
      return 'lost';
    }
    await store.due.removeAll([job.dueKey, ...stale]);
    // Again at the end (a crash right after step 1 may have left the listing behind), unless this run wrote it
    // at step 1 and what callers see of the job has not changed since.
    if (listed !== JSON.stringify(toJobView(done))) await syncListing(store, done);
    const usage = parseJson<NonNullable<Response['usage']>>(done.usage);
    log.log(
      JSON.stringify({
        event: 'job.finalized',
        responseId: done.responseId,
        caller: done.callerId,
        kind: done.kind,
        deployment: done.deployment,
        status,
        polls: done.pollCount,
        ageMs: (done.completedAt ?? clock()) - done.createdAt,
        inputTokens: usage?.input_tokens,
        outputTokens: usage?.output_tokens,
      }),
    );
    return 'finalized';
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    log.warn(
      JSON.stringify({
        event: 'job.finalize_failed',
        responseId: job.responseId,
        steps: [...steps],
        error: message,
      }),
    );
    // Release the lease now rather than after FINALIZE_LEASE_MS: the next tick after the retry delay resumes.
    const retryAt = clock() + Math.max(getConfig().pollInitialDelayMs, 1000);
    await moveDue(
      store,
      job,
      retryAt,
      {
        leaseUntil: retryAt,
        finalizeError: JSON.stringify({ code: 'finalize_failed', message: message.slice(0, 1000) }),
      },
      clock(),
      stale,
    )
      .then((moved) => moved && store.due.remove(job.dueKey))
      .catch(() => undefined);
    return 'failed';
  }
}

async function stillExists(store: JobStore, job: JobEntity): Promise<boolean> {
  try {
    store.meter.tableReads++;
    await store.jobs.getEntity(job.partitionKey, job.rowKey);
    return true;
  } catch {
    return false;
  }
}
