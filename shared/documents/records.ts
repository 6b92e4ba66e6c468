/**
 * The `summaries` container: `<path>.md` (the summary, Markdown) and `<path>.json` (its record).
 *
 * Each is written with one `upload` call, so a reader never sees half a file, and `.md` before `.json`, so a
 * `completed` record always has its summary. Writes are conditional (ETag / if-none-match) and never move a
 * record or summary back to an older version of the source blob: a late finalization of a superseded upload,
 * or a retried trigger, cannot overwrite what a newer upload produced.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { ResponseUsage } from 'openai/resources/responses/responses';
import { container, isConcurrencyConflict, isNotFound } from '../platform/storage';
import { documentStorageNames } from './names';

export type RecordStatus = 'processing' | 'completed' | 'failed' | 'rejected';

export interface RecordError {
  code: string;
  message: string;
}

/** The version of `documents/<name>` a record or summary is about. */
export interface SourceVersion {
  /** Blob name inside the `documents` container. */
  name: string;
  etag: string;
  /** Last-modified time of that version, epoch ms: orders versions of one name. */
  lastModified: number;
  bytes: number;
}

/** `summaries/<path>.json`. Times are ISO 8601 strings. */
export interface SummaryRecord {
  object: 'document.record';
  source: { container: string; name: string; etag: string; last_modified: string; bytes: number };
  status: RecordStatus;
  error: RecordError | null;
  /** Name of the summary inside `summaries` when `completed`, else null. */
  summary_blob: string | null;
  response_id: string | null;
  deployment: string | null;
  /** How the PDF was sent: inline (`file_data`) or through the Files API (`file_id`). */
  input: 'file_data' | 'file_id' | null;
  usage: ResponseUsage | null;
  /** Set for API uploads. */
  document_id: string | null;
  received_at: string;
  completed_at: string | null;
  updated_at: string;
}

const TERMINAL = new Set<RecordStatus>(['completed', 'failed', 'rejected']);

async function summaries(): Promise<ContainerClient> {
  return container(documentStorageNames().summaries);
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A record for `source`, with the fields that do not change between its statuses filled in. */
export function newRecord(
  source: SourceVersion,
  status: RecordStatus,
  fields: Partial<Omit<SummaryRecord, 'object' | 'source' | 'status'>> & { received_at: string },
  now = Date.now(),
): SummaryRecord {
  return {
    object: 'document.record',
    source: {
      container: documentStorageNames().documents,
      name: source.name,
      etag: source.etag,
      last_modified: iso(source.lastModified),
      bytes: source.bytes,
    },
    status,
    error: null,
    summary_blob: null,
    response_id: null,
    deployment: null,
    input: null,
    usage: null,
    document_id: null,
    completed_at: null,
    updated_at: iso(now),
    ...fields,
  };
}

/** The record at `recordBlob` and its blob ETag, or undefined. */
export async function readRecord(
  recordBlob: string,
): Promise<{ record: SummaryRecord; etag: string } | undefined> {
  const blob = await downloadWhole(await summaries(), recordBlob);
  if (!blob) return undefined;
  try {
    return { record: JSON.parse(blob.data.toString('utf8')) as SummaryRecord, etag: blob.etag };
  } catch {
    // Not a record (someone wrote junk there): treat it as one about another blob, which PDFs may replace.
    return {
      record: { source: { name: '', etag: '', last_modified: '' } } as SummaryRecord,
      etag: blob.etag,
    };
  }
}

/**
 * Why `record` must not replace `existing`, or undefined when it may. `otherSources`: whether a record about
 * another blob name may be replaced (PDF names may; the rejection of a non-PDF name may not).
 */
export function replaceRefusal(
  existing: SummaryRecord,
  record: SummaryRecord,
  otherSources: boolean,
): string | undefined {
  if (existing.source.name !== record.source.name) {
    return otherSources ? undefined : `the record describes another blob (${existing.source.name})`;
  }
  if (existing.source.etag === record.source.etag) {
    // A retried step must not move a finished version back to `processing`.
    if (TERMINAL.has(existing.status) && !TERMINAL.has(record.status))
      return 'this version is already finished';
    return undefined;
  }
  if (Date.parse(existing.source.last_modified) > Date.parse(record.source.last_modified)) {
    return 'a newer version of the blob is recorded';
  }
  return undefined;
}

/**
 * Writes `record` to `recordBlob` unless that would move it back (see {@link replaceRefusal}). Returns
 * undefined when written, else the reason it was not.
 */
export async function writeRecord(
  recordBlob: string,
  record: SummaryRecord,
  options: { otherSources?: boolean } = {},
): Promise<string | undefined> {
  const blob = (await summaries()).getBlockBlobClient(recordBlob);
  const body = JSON.stringify(record, null, 2);
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await readRecord(recordBlob);
    if (current) {
      const refusal = replaceRefusal(current.record, record, options.otherSources ?? true);
      if (refusal) return refusal;
    }
    try {
      await blob.upload(body, Buffer.byteLength(body), {
        blobHTTPHeaders: { blobContentType: 'application/json' },
        conditions: current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
      });
      return undefined;
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
    }
  }
  throw new Error(`The record ${recordBlob} kept changing; giving up for now.`);
}

/** Metadata on a summary blob naming the source version it summarizes. */
interface SummaryMetadata {
  sourceetag?: string;
  sourcemodified?: string;
  [key: string]: string | undefined;
}

const summaryMetadata = (source: SourceVersion): Record<string, string> => ({
  sourceetag: source.etag,
  sourcemodified: String(source.lastModified),
  // Metadata values are ASCII; blob names may not be.
  sourcename: encodeURIComponent(source.name),
});

/** True when the summary's metadata names a version newer than `source`. */
function newerThan(metadata: SummaryMetadata | undefined, source: SourceVersion): boolean {
  if (!metadata?.sourceetag || metadata.sourceetag === source.etag) return false;
  return Number(metadata.sourcemodified ?? 0) > source.lastModified;
}

/** Writes the summary of `source` (one upload) unless a newer version's summary is there. True when written. */
export async function writeSummary(
  summaryBlob: string,
  markdown: string,
  source: SourceVersion,
): Promise<boolean> {
  const blob = (await summaries()).getBlockBlobClient(summaryBlob);
  const body = Buffer.from(markdown, 'utf8');
  for (let attempt = 0; attempt < 5; attempt++) {
    let etag: string | undefined;
    try {
      const properties = await blob.getProperties();
      if (newerThan(properties.metadata, source)) return false;
      etag = properties.etag;
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
    try {
      await blob.upload(body, body.byteLength, {
        blobHTTPHeaders: { blobContentType: 'text/markdown; charset=utf-8' },
        metadata: summaryMetadata(source),
        conditions: etag ? { ifMatch: etag } : { ifNoneMatch: '*' },
      });
      return true;
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
    }
  }
  throw new Error(`The summary ${summaryBlob} kept changing; giving up for now.`);
}

/**
 * Deletes a summary left by an older version of the source (the new version failed or was rejected, so the old
 * summary no longer describes what is in `documents/`). A newer version's summary is kept.
 */
export async function deleteStaleSummary(summaryBlob: string, source: SourceVersion): Promise<void> {
  const blob = (await summaries()).getBlockBlobClient(summaryBlob);
  try {
    const properties = await blob.getProperties();
    if (newerThan(properties.metadata, source)) return;
    await blob.delete({ conditions: { ifMatch: properties.etag } });
  } catch (e) {
    if (isNotFound(e) || isConcurrencyConflict(e)) return;
    throw e;
  }
}

/**
 * One GET of a whole blob. Not `downloadToBuffer`: it reads the size first and then that many bytes, so a blob
 * replaced in between comes back cut short; a single GET is served from one version.
 */
async function downloadWhole(
  client: ContainerClient,
  name: string,
): Promise<{ data: Buffer; etag: string } | undefined> {
  try {
    const response = await client.getBlockBlobClient(name).download();
    const chunks: Buffer[] = [];
    for await (const chunk of response.readableStreamBody!) chunks.push(chunk as Buffer);
    return { data: Buffer.concat(chunks), etag: response.etag! };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** The summary text, or undefined. */
export async function readSummary(summaryBlob: string): Promise<string | undefined> {
  return (await downloadWhole(await summaries(), summaryBlob))?.data.toString('utf8');
}
