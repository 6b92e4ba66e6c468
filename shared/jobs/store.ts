/**
 * The job store (table `jobs`). Three kinds of rows share the table:
 *
 * - the job row, PartitionKey = response id, RowKey = `job`: the authority, written only with its ETag;
 * - the due index, PartitionKey = `due`, RowKey = `<next poll epoch ms>.<version>.<nonce>_<response id>` (see
 *   schedule.ts);
 * - the caller's listing, PartitionKey = `list:<caller id>`, RowKey = `<inverted created ms>_<response id>`, a
 *   copy of the job's caller-visible fields so `GET /v1/jobs` is one range query, newest first. A listing row
 *   is replaced only by a copy of a newer job version, so racing writers never move it backwards.
 */
import type { TableClient } from '@azure/data-tables';
import type { Response } from 'openai/resources/responses/responses';
import { container, isConcurrencyConflict, isNotFound, table } from '../platform/storage';
import { storageNames } from '../platform/storage-names';
import { DueIndex, newMeter, type Meter } from '../platform/scheduling/due-index';
import type { JobEntity, JobError, JobKind, JobStatus, JobView } from './types';

export const JOB_ROW = 'job';
const MAX_CREATED_MS = 9_999_999_999_999;

export const listPartition = (callerId: string) => `list:${callerId}`;
export const listRowKey = (createdAt: number, id: string) =>
  `${String(MAX_CREATED_MS - Math.floor(createdAt)).padStart(13, '0')}_${id}`;

/** The listing row: the caller-visible part of a job. */
export interface ListingEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  responseId: string;
  kind: JobKind;
  status: JobStatus;
  deployment: string;
  createdAt: number;
  updatedAt: number;
  completedAt?: number;
  lastError?: string;
  usage?: string;
  version: number;
}

/** Storage handles of one unit of work, with its call counts. */
export interface JobStore {
  jobs: TableClient;
  due: DueIndex;
  meter: Meter;
}

export async function openJobStore(meter: Meter = newMeter()): Promise<JobStore> {
  const jobs = await table(storageNames().jobs);
  return { jobs, due: new DueIndex(jobs, meter), meter };
}

/** Reads a job row, or undefined when there is none. */
export async function readJob(store: JobStore, responseId: string): Promise<JobEntity | undefined> {
  store.meter.tableReads++;
  try {
    return await store.jobs.getEntity<JobEntity>(responseId, JOB_ROW);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/**
 * Writes `changes` to the job row if nobody else wrote it since `job` was read (ETag). Returns the job as
 * written (with its new ETag), or undefined if it changed meanwhile or is gone: the caller lost the race.
 */
export async function updateJob(
  store: JobStore,
  job: JobEntity,
  changes: Partial<Omit<JobEntity, 'partitionKey' | 'rowKey' | 'etag' | 'version'>>,
  now = Date.now(),
): Promise<JobEntity | undefined> {
  const write = { ...changes, updatedAt: now, version: job.version + 1 };
  store.meter.tableWrites++;
  try {
    const result = await store.jobs.updateEntity(
      { partitionKey: job.partitionKey, rowKey: job.rowKey, ...write },
      'Merge',
      { etag: job.etag },
    );
    return { ...job, ...write, etag: result.etag };
  } catch (e) {
    if (isConcurrencyConflict(e) || isNotFound(e)) return undefined;
    throw e;
  }
}

/** Creates a job row; false if one already exists. */
export async function createJob(store: JobStore, job: JobEntity): Promise<JobEntity | undefined> {
  store.meter.tableWrites++;
  try {
    const { etag: _etag, ...entity } = job;
    const result = await store.jobs.createEntity(entity);
    return { ...job, etag: result.etag };
  } catch (e) {
    if (isConcurrencyConflict(e)) return undefined;
    throw e;
  }
}

function listingFromJob(job: JobEntity): ListingEntity {
  const row: ListingEntity = {
    partitionKey: listPartition(job.callerId),
    rowKey: listRowKey(job.createdAt, job.responseId),
    responseId: job.responseId,
    kind: job.kind,
    status: job.status,
    deployment: job.deployment,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    version: job.version,
  };
  if (job.completedAt) row.completedAt = job.completedAt;
  if (job.lastError) row.lastError = job.lastError;
  if (job.usage) row.usage = job.usage;
  return row;
}

/**
 * Brings the caller's listing row up to `job` unless it already shows this version or a newer one. Called
 * after every status change; cheap to repeat. `fresh`: the job was just created, so its listing row most likely
 * does not exist yet: try to create it without reading first (a row already there falls back to the read).
 */
export async function syncListing(
  store: JobStore,
  job: JobEntity,
  options: { fresh?: boolean } = {},
): Promise<void> {
  const wanted = listingFromJob(job);
  if (options.fresh) {
    store.meter.tableWrites++;
    try {
      await store.jobs.createEntity(wanted);
      return;
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
    }
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    let row: ListingEntity | undefined;
    store.meter.tableReads++;
    try {
      row = await store.jobs.getEntity<ListingEntity>(wanted.partitionKey, wanted.rowKey);
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    if (row && row.version >= wanted.version) return;
    store.meter.tableWrites++;
    try {
      if (row) await store.jobs.updateEntity(wanted, 'Replace', { etag: row.etag });
      else await store.jobs.createEntity(wanted);
      return;
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
    }
  }
}

export function parseJson<T>(raw: string | undefined): T | undefined {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined;
  }
}

const seconds = (ms: number | undefined) => (ms ? Math.floor(ms / 1000) : null);

export function toJobView(row: ListingEntity | JobEntity): JobView {
  return {
    id: row.responseId,
    object: 'background_job',
    kind: row.kind,
    status: row.status,
    deployment: row.deployment,
    created_at: seconds(row.createdAt)!,
    updated_at: seconds(row.updatedAt)!,
    completed_at: seconds(row.completedAt),
    error: parseJson<JobError>(row.lastError) ?? null,
    usage: parseJson<NonNullable<Response['usage']>>(row.usage) ?? null,
  };
}

const responseBlob = (responseId: string) => `${responseId}.json`;

/** Writes the final response JSON (`responses/<id>.json`). Idempotent. */
export async function storeResponseJson(response: Response): Promise<void> {
  const responses = await container(storageNames().responses);
  const body = JSON.stringify(response);
  await responses
    .getBlockBlobClient(responseBlob(response.id))
    .upload(body, Buffer.byteLength(body), { blobHTTPHeaders: { blobContentType: 'application/json' } });
}

/** The stored final response JSON, or undefined. */
export async function readResponseJson(responseId: string): Promise<Response | undefined> {
  const responses = await container(storageNames().responses);
  try {
    const buffer = await responses.getBlockBlobClient(responseBlob(responseId)).downloadToBuffer();
    return JSON.parse(buffer.toString('utf8')) as Response;
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export async function deleteResponseJson(responseId: string): Promise<void> {
  const responses = await container(storageNames().responses);
  await responses.deleteBlob(responseBlob(responseId)).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
  });
}
