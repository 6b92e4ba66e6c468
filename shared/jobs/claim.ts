/**
 * Claiming a job's finalization: exactly one of two pollers, two instances, or a poller and a caller's cancel
 * wins the ETag-guarded write running → finalizing, and holds a lease while it runs the steps (finalize.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Response } from 'openai/resources/responses/responses';
import { getConfig } from '../platform/config';
import { updateJob, type JobStore } from './store';
import type { JobEntity, JobError, TerminalStatus } from './types';

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
    const reason = response.incomplete_details.reason;
    // A filtered completion is named as such, as a filtered prompt is (`content_filter`).
    error = {
      code: reason === 'content_filter' ? 'content_filter' : 'incomplete',
      message: `The response is incomplete: ${reason}.`,
    };
  }
  return { status, error: status === 'cancelled' ? undefined : error, usage: response.usage };
}

/**
 * Moves a job's due-index entry: new index row first (deleting the `stale` rows in the same transaction), then
 * the job row (ETag). The row the job leaves (`job.dueKey`) is stale from then on but not deleted here: the
 * caller deletes it with its next index write. Undefined when the write lost; the new row is then removed.
 */
export async function moveDue(
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

export function expiryMessage(): string {
  return `The background response did not finish within JOB_MAX_AGE_SECONDS (${getConfig().jobMaxAgeSeconds} s); the gateway expired it and asked Azure OpenAI to cancel it.`;
}

export const expiredError = (): JobError => ({ code: 'expired', message: expiryMessage() });
