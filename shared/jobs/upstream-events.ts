/**
 * Azure OpenAI's own webhooks: the fast path to a background job's end; the poller stays the backstop.
 *
 * Azure OpenAI POSTs `response.completed`, `response.failed`, `response.cancelled` and `response.incomplete`
 * events, signed under the Standard Webhooks scheme with the endpoint's signing secret (docs/upstream-webhooks.md).
 * An event only names the response (`data.id`), and deliveries can repeat and arrive in any order, so an event is
 * a hint, never the truth: the response is read from upstream and the job ends with the status upstream reports,
 * through the same claim (ETag, exactly once) and finalization steps the poller runs.
 *
 * - Forged, altered or replayed (older than 5 minutes) deliveries are refused before anything is read.
 * - Each `webhook-id` is processed once: a marker row in the job's own partition makes a repeated delivery a
 *   no-op that costs no upstream call. A failed processing removes its marker, so the sender's retry runs again.
 * - An event for a response the service does not track gets the same 2xx as any other and writes nothing.
 */
import { createHash } from 'node:crypto';
import type { Response } from 'openai/resources/responses/responses';
import type { UnwrapWebhookEvent } from 'openai/resources/webhooks';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { ApiError, badRequest, isUpstreamError, notFound } from '../platform/errors';
import { isConcurrencyConflict, isNotFound } from '../platform/storage';
import { claimFinalization, moveDue, outcomeOf } from './claim';
import { runFinalization } from './finalize';
import { openJobStore, readJob, type JobStore } from './store';
import { isTerminal, type JobEntity, type JobLog } from './types';

/** The event types this route acts on (what the endpoint is registered for). */
export const UPSTREAM_EVENT_TYPES = [
  'response.completed',
  'response.failed',
  'response.cancelled',
  'response.incomplete',
] as const;

/** How old (seconds) a delivery's `webhook-timestamp` may be: the SDK's default, the Standard Webhooks one. */
const TOLERANCE_SECONDS = 300;

/** What one delivery did; the sender sees none of it (every accepted delivery answers the same 2xx). */
export type UpstreamEventOutcome =
  /** Not an event for a job this service tracks (another event type, or a response it never made). */
  | 'ignored'
  /** This `webhook-id` was processed before. */
  | 'duplicate'
  /** The job had ended already (the poller, a cancel or an earlier event got there first). */
  | 'already_ended'
  /** Upstream does not report the response as ended (yet): the job's next poll was brought forward. */
  | 'not_ended'
  | 'finalized';

export interface UpstreamEventResult {
  outcome: UpstreamEventOutcome;
  /** The upstream response id the event named (for logs). */
  responseId?: string;
  /** The finalization ran but a step failed; the poller resumes it. */
  finalizeFailed?: boolean;
}

/** Whether the route is on (a signing secret is configured). */
export const upstreamWebhooksEnabled = (): boolean => getConfig().upstreamWebhookSecret !== undefined;

/**
 * Verifies and applies one delivery. `rawBody`: the request body exactly as received (the signature covers its
 * bytes). Throws a 404 ApiError when the route is off, a 400 when the delivery is not authentic.
 */
export async function handleUpstreamWebhook(
  rawBody: string,
  headers: Record<string, string>,
  log: JobLog,
  now: () => number = Date.now,
): Promise<UpstreamEventResult> {
  const secret = getConfig().upstreamWebhookSecret;
  if (secret === undefined) {
    throw notFound('Upstream webhooks are not enabled on this service (UPSTREAM_WEBHOOK_SECRET is not set).');
  }
  const event = await verify(rawBody, headers, secret);
  const webhookId = headers['webhook-id']!;
  if (!(UPSTREAM_EVENT_TYPES as readonly string[]).includes(event.type)) return { outcome: 'ignored' };
  const responseId = (event.data as { id?: unknown } | undefined)?.id;
  if (typeof responseId !== 'string' || !responseId) return { outcome: 'ignored' };

  const store = await openJobStore();
  const job = await readJob(store, responseId);
  if (!job) return { outcome: 'ignored', responseId };
  if (job.phase !== 'running') return { outcome: 'already_ended', responseId };
  if (!(await markSeen(store, responseId, webhookId, event.type, now()))) {
    return { outcome: 'duplicate', responseId };
  }
  try {
    return { ...(await applyEvent(store, job, log, now)), responseId };
  } catch (e) {
    // Not processed: let the sender's retry (same webhook-id) run it again. The poller is there regardless.
    await unmarkSeen(store, responseId, webhookId).catch(() => undefined);
    throw e;
  }
}

/** The SDK's Standard Webhooks check (signature over id, timestamp and the exact body; 5-minute window). */
async function verify(
  rawBody: string,
  headers: Record<string, string>,
  secret: string,
): Promise<UnwrapWebhookEvent> {
  for (const name of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
    if (!headers[name]) {
      throw badRequest(
        `Missing the ${name} header of a Standard Webhooks delivery.`,
        name,
        'invalid_webhook',
      );
    }
  }
  try {
    return await getOpenAI().webhooks.unwrap(rawBody, headers, secret, TOLERANCE_SECONDS);
  } catch (e) {
    // A bad signature, a timestamp outside the window, or a body that is not JSON after a good signature.
    const reason = e instanceof Error ? e.message : String(e);
    throw new ApiError(
      400,
      `The delivery is not an authentic, current Azure OpenAI webhook: ${reason}`,
      'invalid_request_error',
      'invalid_webhook_signature',
    );
  }
}

/** Marker rows live in the job's partition: RowKey `upstream-event:<sha256 of webhook-id>` (any id is a key). */
const markerKey = (webhookId: string) =>
  `upstream-event:${createHash('sha256').update(webhookId).digest('hex').slice(0, 40)}`;

/** Records a delivery; false when its webhook-id was recorded before (a duplicate). */
async function markSeen(
  store: JobStore,
  responseId: string,
  webhookId: string,
  type: string,
  now: number,
): Promise<boolean> {
  store.meter.tableWrites++;
  try {
    await store.jobs.createEntity({ partitionKey: responseId, rowKey: markerKey(webhookId), type, at: now });
    return true;
  } catch (e) {
    if (isConcurrencyConflict(e)) return false;
    throw e;
  }
}

async function unmarkSeen(store: JobStore, responseId: string, webhookId: string): Promise<void> {
  store.meter.tableWrites++;
  await store.jobs.deleteEntity(responseId, markerKey(webhookId)).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
  });
}

/**
 * Reads the response upstream and, when it has ended, claims and runs the job's finalization. Losing the
 * claim to a poll in flight (its ETag write moved the next poll) is retried on the fresh row; losing it to
 * another finalizer (a poller, a cancel, a concurrent event) leaves the job to them.
 */
async function applyEvent(
  store: JobStore,
  job: JobEntity,
  log: JobLog,
  now: () => number,
): Promise<Omit<UpstreamEventResult, 'responseId'>> {
  let response: Response;
  try {
    store.meter.upstreamCalls++;
    response = await getOpenAI().responses.retrieve(job.responseId, undefined, {
      maxRetries: 1,
      timeout: Math.min(getConfig().openaiTimeoutMs, 8_000),
    });
  } catch (e) {
    // Gone upstream: the poller's 404 handling ends the job; bring its poll forward.
    if (isUpstreamError(e) && e.status === 404) return { outcome: await pollSoon(store, job, now()) };
    throw e;
  }
  if (!isTerminal(response.status)) return { outcome: await pollSoon(store, job, now()) };

  let current: JobEntity | undefined = job;
  for (let attempt = 0; current && attempt < 4; attempt++) {
    if (current.phase !== 'running') return { outcome: 'already_ended' };
    const claimed = await claimFinalization(
      store,
      current,
      outcomeOf(response, current.cancelRequested),
      now(),
    );
    if (claimed) {
      const result = await runFinalization(store, claimed, response, log, { now, stale: [current.dueKey] });
      log.log(
        JSON.stringify({
          event: 'job.upstream_webhook',
          responseId: job.responseId,
          status: claimed.status,
          result,
        }),
      );
      return { outcome: 'finalized', finalizeFailed: result === 'failed' };
    }
    current = await readJob(store, job.responseId);
  }
  return { outcome: 'already_ended' };
}

/**
 * The event said the response ended but upstream does not show it yet (or no longer has it): the job's next
 * poll moves to one POLL_INITIAL_DELAY_MS from now, unless it is due sooner, so the backstop looks again soon.
 */
async function pollSoon(store: JobStore, job: JobEntity, now: number): Promise<'not_ended'> {
  const at = now + getConfig().pollInitialDelayMs;
  if (job.nextPollAt <= at) return 'not_ended';
  // The row the job leaves is deleted once the move won (a lost move means another writer moved it already).
  if (await moveDue(store, job, at, {}, now)) await store.due.remove(job.dueKey);
  return 'not_ended';
}
