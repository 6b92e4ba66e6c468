/**
 * What the HTTP handlers call: track a background create, answer a retrieve from a finalized job, record a
 * caller's cancel, delete a job, list a caller's jobs.
 */
import { odata } from '../platform/sdk';
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { getConfig } from '../platform/config';
import { badRequest } from '../platform/errors';
import { isNotFound } from '../platform/storage';
import { openForCaller, sealForCaller } from '../platform/caller-ids';
import { claimFinalization, outcomeOf } from './claim';
import { runFinalization } from './finalize';
import { pollDelay } from '../platform/scheduling/backoff';
import {
  createJob,
  deleteResponseJson,
  JOB_ROW,
  listPartition,
  listRowKey,
  openJobStore,
  type JobStore,
  readJob,
  readResponseJson,
  syncListing,
  toJobView,
  updateJob,
  type ListingEntity,
} from './store';
import {
  isTerminal,
  JOB_KINDS,
  JOB_STATUSES,
  type JobEntity,
  type JobKind,
  type JobList,
  type JobLog,
  type JobStatus,
  type JobView,
} from './types';

export interface TrackRequest {
  caller: Caller;
  response: Response;
  kind: JobKind;
  /** Deployment the response runs on. */
  deployment: string;
  /** Validated target of the completion webhook (see resolveWebhookTarget); default: the caller's registration. */
  webhookUrl?: string;
  /** Files API ids uploaded for this job; deleted upstream at finalization. */
  uploadedFileIds?: string[];
  /** Strings the kind's finalizer needs later (e.g. the document blob name). */
  extra?: Record<string, string>;
}

/**
 * Starts tracking a background response right after its create returned. Idempotent: tracking the same
 * response again changes nothing. The first poll is due after POLL_INITIAL_DELAY_MS (at once if the response
 * already ended).
 */
export async function trackBackgroundJob(request: TrackRequest): Promise<void> {
  const { caller, response } = request;
  const store = await openJobStore();
  const now = Date.now();
  const upstreamCreated = response.created_at ? response.created_at * 1000 : now;
  const createdAt = Math.min(now, Number.isFinite(upstreamCreated) ? upstreamCreated : now);
  const config = getConfig();
  const next = isTerminal(response.status)
    ? now
    : now + pollDelay(0, config.pollInitialDelayMs, config.pollMaxDelayMs);
  // Index row first: a crash between the two writes leaves a stale hint, never an unindexed job.
  const dueKey = await store.due.add(next, response.id, 1);
  const job: JobEntity = {
    partitionKey: response.id,
    rowKey: JOB_ROW,
    responseId: response.id,
    callerId: caller.id,
    callerName: caller.name,
    kind: request.kind,
    deployment: request.deployment,
    status: response.status === 'queued' || response.status === 'in_progress' ? response.status : 'queued',
    phase: 'running',
    createdAt,
    updatedAt: now,
    nextPollAt: next,
    dueKey,
    pollCount: 0,
    version: 1,
  };
  if (request.webhookUrl) job.webhookUrl = request.webhookUrl;
  if (request.uploadedFileIds?.length) job.uploadedFileIds = JSON.stringify(request.uploadedFileIds);
  if (request.extra && Object.keys(request.extra).length) job.extra = JSON.stringify(request.extra);
  const created = await createJob(store, job);
  if (!created) {
    await store.due.remove(dueKey);
    const existing = await readJob(store, response.id);
    if (existing) await syncListing(store, existing);
    return;
  }
  // Again: a poller that met the index row before the job row existed may have deleted it (it puts the row
  // back only if it sees the job row; see DueIndex.dropUnlessPending).
  await store.due.put(dueKey);
  await syncListing(store, created, { fresh: true });
}

/**
 * The stored final response of a tracked job once it is terminal and its final JSON is stored (finalization
 * step 1; the rest of finalization never changes it), else undefined: ask upstream. The JSON already says
 * what the job says (a caller's cancel wins over a later upstream `completed`).
 */
export async function terminalResponseFromJob(responseId: string): Promise<Response | undefined> {
  const store = await openJobStore();
  const job = await readJob(store, responseId);
  if (!job || !isTerminal(job.status)) return undefined;
  const stored = job.phase === 'finalized' || (job.steps ?? '').split(',').includes('stored');
  return stored ? readResponseJson(responseId) : undefined;
}

/**
 * Records a caller's cancel of a tracked response (`response` is what the upstream cancel answered). Cancel
 * wins: the job ends `cancelled` even if upstream later reports `completed`. A terminal answer is finalized at
 * once; otherwise the job is marked and polled right away. A job that had already ended keeps its ending.
 */
export async function recordCancel(responseId: string, response: Response, log: JobLog): Promise<void> {
  const store = await openJobStore();
  for (let attempt = 0; attempt < 5; attempt++) {
    const job = await readJob(store, responseId);
    if (!job) return;
    if (job.phase !== 'running') {
      log.log(JSON.stringify({ event: 'job.cancel_after_end', responseId, status: job.status }));
      return;
    }
    const now = Date.now();
    if (isTerminal(response.status)) {
      // Upstream answered the cancel with a final response: `cancelled`, or the ending it reached first.
      const outcome = outcomeOf(response, response.status === 'cancelled');
      const claimed = await claimFinalization(store, job, outcome, now, { cancelRequested: true });
      if (!claimed) continue;
      // A failed step is the poller's to finish: runFinalization releases the lease and the job stays due.
      await runFinalization(store, claimed, response, log, { stale: [job.dueKey] });
      return;
    }
    const key = await store.due.add(now, responseId, job.version + 1);
    const marked = await updateJob(store, job, { cancelRequested: true, nextPollAt: now, dueKey: key }, now);
    if (marked) {
      await store.due.remove(job.dueKey);
      return;
    }
    await store.due.remove(key);
  }
  throw new Error(`Could not record the cancel of ${responseId}: the job kept changing.`);
}

/** Removes everything stored about a job: job row, due-index and listing rows, stored response JSON. */
export async function deleteJob(responseId: string): Promise<void> {
  const store = await openJobStore();
  const job = await readJob(store, responseId);
  if (job) {
    await store.due.remove(job.dueKey);
    // Listing row first, job row last: if a delete fails, the error reaches the caller and the job row is
    // still there for their retry to find. Only rows already gone count as deleted.
    await deleteIfPresent(store, listPartition(job.callerId), listRowKey(job.createdAt, responseId));
    await deleteIfPresent(store, responseId, JOB_ROW);
  }
  await deleteResponseJson(responseId);
}

async function deleteIfPresent(store: JobStore, partitionKey: string, rowKey: string): Promise<void> {
  try {
    await store.jobs.deleteEntity(partitionKey, rowKey);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

export interface ListJobsOptions {
  status?: JobStatus;
  kind?: JobKind;
  /** 1–100, default 20. */
  limit?: number;
  /** Id of the last job of the previous page. */
  after?: string;
}

/** Validates `GET /v1/jobs` query parameters; a bad one is a 400 naming it. */
export function parseListJobsQuery(query: URLSearchParams): ListJobsOptions {
  const options: ListJobsOptions = {};
  const status = query.get('status');
  if (status !== null) {
    if (!(JOB_STATUSES as readonly string[]).includes(status)) {
      throw badRequest(`'status' must be one of ${JOB_STATUSES.join(', ')}.`, 'status');
    }
    options.status = status as JobStatus;
  }
  const kind = query.get('kind');
  if (kind !== null) {
    if (!(JOB_KINDS as readonly string[]).includes(kind))
      throw badRequest(`'kind' must be one of ${JOB_KINDS.join(', ')}.`, 'kind');
    options.kind = kind as JobKind;
  }
  const limit = query.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw badRequest("'limit' must be an integer between 1 and 100.", 'limit');
    options.limit = n;
  }
  const after = query.get('after');
  if (after !== null) {
    if (!/^[A-Za-z0-9_-]{1,200}$/.test(after))
      throw badRequest("'after' is not a valid id.", 'after', 'invalid_id');
    options.after = after;
  }
  return options;
}

/** A job as its caller sees it: with the response id they hold. */
const sealedView = (caller: Caller, view: JobView): JobView => ({
  ...view,
  id: sealForCaller(caller.id, view.id),
});

/** The caller's jobs, newest first, in OpenAI's list shape. One range query per page (more with filters). */
export async function listJobs(caller: Caller, options: ListJobsOptions = {}): Promise<JobList> {
  const store = await openJobStore();
  const limit = options.limit ?? 20;
  const parts = [odata`PartitionKey eq ${listPartition(caller.id)}`];
  if (options.after) {
    // The cursor is an id the caller was given (sealed for them); another caller's opens to nothing.
    const upstreamId = openForCaller(caller.id, options.after);
    const cursor = upstreamId === undefined ? undefined : await readJob(store, upstreamId);
    if (!cursor || cursor.callerId !== caller.id) {
      throw badRequest(
        `'after' must be the id of one of your jobs; '${options.after}' is not.`,
        'after',
        'invalid_cursor',
      );
    }
    parts.push(odata`RowKey gt ${listRowKey(cursor.createdAt, cursor.responseId)}`);
  }
  if (options.status) parts.push(odata`status eq ${options.status}`);
  if (options.kind) parts.push(odata`kind eq ${options.kind}`);
  const rows: ListingEntity[] = [];
  const pages = store.jobs
    .listEntities<ListingEntity>({ queryOptions: { filter: parts.join(' and ') } })
    .byPage({ maxPageSize: limit + 1 });
  for await (const page of pages) {
    store.meter.tableQueries++;
    rows.push(...page);
    if (rows.length > limit) break;
  }
  const data = rows.slice(0, limit).map((row) => sealedView(caller, toJobView(row)));
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: rows.length > limit,
  };
}
