/**
 * What callers see of their API uploads: `GET /v1/documents/{id}` and `GET /v1/documents` (OpenAI list shape,
 * newest first). Another caller's document id is answered exactly like an unknown one.
 */
import type { ResponseUsage } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { badRequest, notFound } from '../platform/errors';
import { documentStorageNames } from './names';
import { isDocumentId } from './naming';
import { readSummary, type RecordError } from './records';
import { listDocumentRows, readDocument, type DocumentEntity, type DocumentStatus } from './store';

export interface DocumentView {
  id: string;
  object: 'document';
  filename: string;
  bytes: number | null;
  status: DocumentStatus;
  /** Unix seconds, like OpenAI's `created_at`. */
  created_at: number;
  completed_at: number | null;
  /** Where the PDF and its summary live in storage (`container/name`). */
  blob: string;
  summary_blob: string | null;
  response_id: string | null;
  deployment: string | null;
  error: RecordError | null;
  usage: ResponseUsage | null;
  /** The summary (Markdown) when `completed`; only `GET /v1/documents/{id}` fills it. */
  summary?: string | null;
}

export interface DocumentList {
  object: 'list';
  data: DocumentView[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

const parse = <T>(raw: string | undefined): T | null => {
  if (!raw) return null;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
};

const seconds = (ms: number | undefined) => (ms ? Math.floor(ms / 1000) : null);

export function toDocumentView(row: DocumentEntity): DocumentView {
  const names = documentStorageNames();
  return {
    id: row.rowKey,
    object: 'document',
    filename: row.filename,
    bytes: row.bytes ?? null,
    status: row.status ?? 'queued',
    created_at: Math.floor(row.createdAt / 1000),
    completed_at: seconds(row.completedAt),
    blob: `${names.documents}/${row.blobName}`,
    summary_blob: row.summaryBlob ? `${names.summaries}/${row.summaryBlob}` : null,
    response_id: row.responseId || null,
    deployment: row.deployment || null,
    error: parse<RecordError>(row.error),
    usage: parse<ResponseUsage>(row.usage),
  };
}

export const documentNotFound = (id: string) => notFound(`No document found with id '${id}'.`, 'document_id');

/** One of the caller's documents, with its summary when done. 404 for unknown ids and other callers' ids alike. */
export async function getDocument(caller: Caller, id: string): Promise<DocumentView> {
  const row = isDocumentId(id) ? await readDocument(caller.id, id) : undefined;
  if (!row || !row.uploaded) throw documentNotFound(id);
  const view = toDocumentView(row);
  view.summary =
    view.status === 'completed' && row.summaryBlob ? ((await readSummary(row.summaryBlob)) ?? null) : null;
  return view;
}

export interface ListDocumentsOptions {
  /** 1–100, default 20. */
  limit: number;
  after?: string;
}

/** Validates the list query (`limit`, `after`, `order`); a bad value is a 400 naming it. */
export function parseListDocumentsQuery(query: URLSearchParams): ListDocumentsOptions {
  const options: ListDocumentsOptions = { limit: 20 };
  const limit = query.get('limit');
  if (limit !== null) {
    const n = Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 100)
      throw badRequest("'limit' must be an integer between 1 and 100.", 'limit');
    options.limit = n;
  }
  const after = query.get('after');
  if (after !== null) {
    if (!isDocumentId(after)) throw badRequest("'after' is not a valid document id.", 'after', 'invalid_id');
    options.after = after;
  }
  const order = query.get('order');
  if (order !== null && order !== 'desc') {
    throw badRequest("'order' must be 'desc': documents are listed newest first.", 'order');
  }
  return options;
}

/** The caller's documents, newest first, one range query per page. */
export async function listDocuments(caller: Caller, options: ListDocumentsOptions): Promise<DocumentList> {
  const { rows, hasMore } = await listDocumentRows(caller.id, options);
  const data = rows.map(toDocumentView);
  return {
    object: 'list',
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: hasMore,
  };
}
