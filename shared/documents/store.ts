/**
 * The `documents` table. Two kinds of rows:
 *
 * - the version claim of a blob, PartitionKey = `blob_<sha256 of the blob name>`, RowKey = `version`: which
 *   version (ETag) of `documents/<name>` is being or was summarized, and how far it got. It is written only with
 *   `createEntity` or under its ETag, so of two deliveries of the same event exactly one proceeds, and it holds
 *   the upstream response id as soon as there is one, so a retried delivery reuses it instead of paying twice.
 * - a caller's document, PartitionKey = `caller_<caller id>`, RowKey = document id (ids sort newest first):
 *   what `GET /v1/documents[/{id}]` shows, written by the upload and updated as the document moves on.
 */
import type { TableClient } from '@azure/data-tables';
import { odata } from '../platform/sdk';
import { isConcurrencyConflict, isNotFound, table } from '../platform/storage';
import { blobKey } from './naming';
import { documentStorageNames } from './names';
import type { RecordError, SourceVersion } from './records';

export const VERSION_ROW = 'version';

/**
 * `claimed`: one delivery works on it (until `leaseUntil`); `released`: that delivery failed and the next one
 * may resume; `tracked`: the background job exists and will finish it; the rest are final.
 */
export type VersionState = 'claimed' | 'released' | 'tracked' | 'completed' | 'failed' | 'rejected';

const SETTLED = new Set<VersionState>(['tracked', 'completed', 'failed', 'rejected']);

export interface VersionEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  blobName: string;
  /** ETag of the blob version (the entity's own ETag is `etag`). */
  sourceEtag: string;
  lastModified: number;
  bytes: number;
  state: VersionState;
  leaseUntil: number;
  /** Deliveries that claimed this version (1 normally). */
  attempts: number;
  receivedAt: number;
  updatedAt: number;
  responseId?: string;
  /** Files API id of the uploaded PDF (above PDF_FILES_API_THRESHOLD_BYTES), reused by a retry. */
  fileId?: string;
  deployment?: string;
}

export type DocumentStatus = 'queued' | 'processing' | 'completed' | 'failed' | 'rejected';
const FINAL_STATUSES = new Set<string>(['completed', 'failed', 'rejected']);
export const isFinalStatus = (status: string | undefined): boolean => FINAL_STATUSES.has(status ?? '');

export interface DocumentEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  callerId: string;
  callerName: string;
  blobName: string;
  filename: string;
  createdAt: number;
  /** Set once the blob is committed; rows without it are uploads in flight (or that failed). */
  uploaded?: boolean;
  uploadedAt?: number;
  /** ETag of the blob the upload committed. */
  uploadEtag?: string;
  bytes?: number;
  webhookUrl?: string;
  /** Absent until the blob trigger has looked at the blob: `queued`. */
  status?: DocumentStatus;
  /** The blob version `status` is about. */
  sourceEtag?: string;
  responseId?: string;
  deployment?: string;
  /** JSON of {@link RecordError}. */
  error?: string;
  /** JSON of the response usage. */
  usage?: string;
  completedAt?: number;
  summaryBlob?: string;
}

export const callerPartition = (callerId: string) => `caller_${encodeURIComponent(callerId)}`;

export async function documentsTable(): Promise<TableClient> {
  return table(documentStorageNames().table);
}

async function get<T extends object>(
  t: TableClient,
  pk: string,
  rk: string,
): Promise<(T & { etag: string }) | undefined> {
  try {
    return await t.getEntity<T>(pk, rk);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export async function readVersion(blobName: string): Promise<VersionEntity | undefined> {
  return readVersionByKey(blobKey(blobName));
}

/** The version row of the blob whose {@link blobKey} is `partitionKey`. */
export async function readVersionByKey(partitionKey: string): Promise<VersionEntity | undefined> {
  return get<VersionEntity>(await documentsTable(), partitionKey, VERSION_ROW);
}

export type Claim =
  | { kind: 'claimed'; row: VersionEntity; superseded?: VersionEntity }
  | { kind: 'duplicate'; row: VersionEntity }
  | { kind: 'stale'; row: VersionEntity };

/**
 * Claims `source` for one delivery. `claimed`: go ahead (the row may carry a response id or file id from an
 * earlier attempt: reuse them). `duplicate`: this version is settled or another delivery holds a live lease.
 * `stale`: a newer version of the blob is already claimed. `leaseMs` bounds how long a crashed delivery
 * blocks the next one.
 */
export async function claimVersion(
  source: SourceVersion,
  leaseMs: number,
  now = Date.now(),
  /** Whether `source` is still the blob's current version; asked only when Last-Modified cannot tell. */
  isCurrent: () => Promise<boolean> = () => Promise.resolve(true),
): Promise<Claim> {
  const t = await documentsTable();
  const partitionKey = blobKey(source.name);
  const fresh: VersionEntity = {
    partitionKey,
    rowKey: VERSION_ROW,
    blobName: source.name,
    sourceEtag: source.etag,
    lastModified: source.lastModified,
    bytes: source.bytes,
    state: 'claimed',
    leaseUntil: now + leaseMs,
    attempts: 1,
    receivedAt: now,
    updatedAt: now,
  };
  for (let attempt = 0; attempt < 8; attempt++) {
    const row = await get<VersionEntity>(t, partitionKey, VERSION_ROW);
    try {
      if (!row) {
        const result = await t.createEntity(fresh);
        return { kind: 'claimed', row: { ...fresh, etag: result.etag } };
      }
      if (row.sourceEtag !== source.etag) {
        if (row.lastModified > source.lastModified) return { kind: 'stale', row };
        // Last-Modified has one-second resolution: two uploads within a second tie, and only storage knows
        // which of them is current.
        if (row.lastModified === source.lastModified && !(await isCurrent())) return { kind: 'stale', row };
        const result = await t.updateEntity(fresh, 'Replace', { etag: row.etag });
        return { kind: 'claimed', row: { ...fresh, etag: result.etag }, superseded: row };
      }
      if (SETTLED.has(row.state) || (row.state === 'claimed' && row.leaseUntil > now))
        return { kind: 'duplicate', row };
      const changes = {
        state: 'claimed' as const,
        leaseUntil: now + leaseMs,
        attempts: row.attempts + 1,
        updatedAt: now,
      };
      const result = await t.updateEntity({ partitionKey, rowKey: VERSION_ROW, ...changes }, 'Merge', {
        etag: row.etag,
      });
      return { kind: 'claimed', row: { ...row, ...changes, etag: result.etag } };
    } catch (e) {
      if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
    }
  }
  throw new Error(`The version row of ${source.name} kept changing; retry later.`);
}

/** Writes `changes` under the row's ETag. Undefined when the row changed meanwhile (a newer version, a takeover). */
export async function updateVersion(
  row: VersionEntity,
  changes: Partial<Omit<VersionEntity, 'partitionKey' | 'rowKey' | 'etag'>>,
  now = Date.now(),
): Promise<VersionEntity | undefined> {
  const t = await documentsTable();
  const write = { ...changes, updatedAt: now };
  try {
    const result = await t.updateEntity(
      { partitionKey: row.partitionKey, rowKey: row.rowKey, ...write },
      'Merge',
      {
        etag: row.etag,
      },
    );
    return { ...row, ...write, etag: result.etag };
  } catch (e) {
    if (isConcurrencyConflict(e) || isNotFound(e)) return undefined;
    throw e;
  }
}

/** Sets the state of `sourceEtag`'s version row, unless the row has moved on to another version. */
export async function settleVersion(
  blobName: string,
  sourceEtag: string,
  state: VersionState,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = await readVersion(blobName);
    if (!row || row.sourceEtag !== sourceEtag || row.state === state) return;
    if (await updateVersion(row, { state, leaseUntil: 0 })) return;
  }
}

// ---- callers' documents -------------------------------------------------------------------------------------

export async function readDocument(
  callerId: string,
  documentId: string,
): Promise<DocumentEntity | undefined> {
  return get<DocumentEntity>(await documentsTable(), callerPartition(callerId), documentId);
}

export async function createDocument(entity: Omit<DocumentEntity, 'etag'>): Promise<void> {
  await (await documentsTable()).createEntity(entity);
}

export async function deleteDocument(callerId: string, documentId: string): Promise<void> {
  await (await documentsTable()).deleteEntity(callerPartition(callerId), documentId).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
  });
}

export type DocumentChanges = Partial<Omit<DocumentEntity, 'partitionKey' | 'rowKey' | 'etag' | 'callerId'>>;

/** Merges `changes` into a caller's document row (a row that is gone stays gone). */
export async function mergeDocument(
  callerId: string,
  documentId: string,
  changes: DocumentChanges,
): Promise<void> {
  try {
    await (
      await documentsTable()
    ).updateEntity({ partitionKey: callerPartition(callerId), rowKey: documentId, ...changes }, 'Merge');
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
}

/**
 * Moves a caller's document to a new status about `sourceEtag`, unless it already shows a final status for
 * that same version (a retried step must not turn `completed` back into `processing`).
 */
export async function setDocumentStatus(
  callerId: string,
  documentId: string,
  sourceEtag: string,
  status: DocumentStatus,
  changes: DocumentChanges = {},
): Promise<void> {
  const t = await documentsTable();
  for (let attempt = 0; attempt < 5; attempt++) {
    const row = await get<DocumentEntity>(t, callerPartition(callerId), documentId);
    if (!row) return;
    if (row.sourceEtag === sourceEtag && isFinalStatus(row.status) && !isFinalStatus(status)) return;
    try {
      await t.updateEntity(
        { partitionKey: row.partitionKey, rowKey: row.rowKey, ...changes, status, sourceEtag },
        'Merge',
        { etag: row.etag },
      );
      return;
    } catch (e) {
      if (isNotFound(e)) return;
      if (!isConcurrencyConflict(e)) throw e;
    }
  }
}

export const errorJson = (error: RecordError | null | undefined): string =>
  error ? JSON.stringify(error) : '';

/** One page of a caller's uploaded documents, newest first. */
export async function listDocumentRows(
  callerId: string,
  options: { limit: number; after?: string },
): Promise<{ rows: DocumentEntity[]; hasMore: boolean }> {
  const t = await documentsTable();
  const parts = [odata`PartitionKey eq ${callerPartition(callerId)}`, odata`uploaded eq ${true}`];
  if (options.after) parts.push(odata`RowKey gt ${options.after}`);
  const rows: DocumentEntity[] = [];
  const pages = t
    .listEntities<DocumentEntity>({ queryOptions: { filter: parts.join(' and ') } })
    .byPage({ maxPageSize: options.limit + 1 });
  for await (const page of pages) {
    rows.push(...page);
    if (rows.length > options.limit) break;
  }
  return { rows: rows.slice(0, options.limit), hasMore: rows.length > options.limit };
}
