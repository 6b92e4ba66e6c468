/**
 * Blob names of the documents feature.
 *
 * - `documents/<path>.pdf` is summarized into `summaries/<path>.md`, with its record in `summaries/<path>.json`.
 *   The extension is matched in any case (`SCAN.PDF` from a scanner is common); `a.pdf` and `a.PDF` therefore
 *   share summary names, and the record says which blob it describes.
 * - Other names in `documents/` are rejected (`not_pdf_name`) with a record at `summaries/<name>.json`, never
 *   processed: their summary name could not be told apart from a PDF's.
 * - A name with `.`/`..`/empty segments, a backslash or control characters is never turned into a summary name:
 *   storage URLs resolve such segments, so `x/../../y.pdf` could land outside `summaries/<path>`. Those blobs
 *   are left alone and logged (there is no safe place for a record).
 * - API uploads live at `documents/<caller prefix><document id>/<file name>` (see `callerBlobPrefix`).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Caller } from '../callers/auth';
import { callerBlobPrefix } from '../callers/auth';

/** Azure's limit on a blob name, in characters. */
export const MAX_BLOB_NAME = 1024;

export type ClassifiedName =
  | { kind: 'pdf'; blobName: string; summaryBlob: string; recordBlob: string }
  | { kind: 'not-pdf'; blobName: string; recordBlob: string }
  | { kind: 'unsafe'; blobName: string; reason: string };

const PDF_EXT = /\.pdf$/i;

/** Why a blob name cannot be mapped to summary names, or undefined when it can. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'the name is empty';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'the name contains control characters';
  if (name.includes('\\')) return 'the name contains a backslash (Azure treats it as a path separator)';
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) {
    return "the name has an empty, '.' or '..' path segment";
  }
  if (/\.$/.test(name)) return 'the name ends with a dot';
  return undefined;
}

/** What the blob trigger does with `documents/<blobName>`. */
export function classifyBlobName(blobName: string): ClassifiedName {
  const reason = unsafeNameReason(blobName);
  if (reason) return { kind: 'unsafe', blobName, reason };
  if (PDF_EXT.test(blobName) && blobName.length > 4 && !blobName.endsWith('/.pdf')) {
    const base = blobName.slice(0, -4);
    return { kind: 'pdf', blobName, summaryBlob: `${base}.md`, recordBlob: `${base}.json` };
  }
  const recordBlob = `${blobName}.json`;
  if (recordBlob.length > MAX_BLOB_NAME)
    return { kind: 'unsafe', blobName, reason: 'the name is too long for a record name' };
  return { kind: 'not-pdf', blobName, recordBlob };
}

/** Table key of a blob name: blob names may hold characters PartitionKeys may not (`/`, `#`, `?`). */
export function blobKey(blobName: string): string {
  return `blob_${createHash('sha256').update(blobName, 'utf8').digest('hex')}`;
}

const MAX_EPOCH_MS = 9_999_999_999_999;
const DOCUMENT_ID = /^doc_\d{13}[0-9a-f]{16}$/;

/**
 * A new document id: `doc_` + 13 digits of inverted creation time + 16 random hex digits, so a caller's ids
 * sort newest first (the listing is one range query).
 */
export function newDocumentId(now = Date.now()): string {
  const inverted = String(MAX_EPOCH_MS - Math.floor(now)).padStart(13, '0');
  return `doc_${inverted}${randomBytes(8).toString('hex')}`;
}

export const isDocumentId = (id: string): boolean => DOCUMENT_ID.test(id);

/** Creation time (epoch ms) encoded in a document id. */
export function documentIdTime(id: string): number {
  return MAX_EPOCH_MS - Number(id.slice(4, 17));
}

const MAX_FILENAME = 200;

/**
 * A caller-supplied file name made safe as the last segment of a blob name: no path, no control or reserved
 * characters, at most 200 characters, always ending in `.pdf`. Empty input gives `document.pdf`.
 */
export function sanitizeFilename(raw: string | null | undefined): string {
  // Only the last path segment counts: `C:\\scans\\a.pdf` and `../../a.pdf` are both `a.pdf`.
  const last = (raw ?? '').split(/[\\/]/).pop() ?? '';
  let name = last
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f"*:<>?|#%]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '');
  name = name.replace(PDF_EXT, '').replace(/[. ]+$/, '');
  if (!name) name = 'document';
  return `${name.slice(0, MAX_FILENAME - 4)}.pdf`;
}

/** Where an API upload is stored inside `documents/`. */
export function apiBlobName(caller: Caller, documentId: string, filename: string): string {
  return `${callerBlobPrefix(caller)}${documentId}/${filename}`;
}

/**
 * The caller id and document id an API-upload blob name claims (`key/<name>/doc_.../<file>`), or undefined.
 * A claim only counts when the caller's document row names this very blob: anyone with storage access can
 * write any name.
 */
export function claimedOwner(blobName: string): { callerId: string; documentId: string } | undefined {
  const parts = blobName.split('/');
  if (parts.length !== 4) return undefined;
  const [source, encoded, documentId] = parts as [string, string, string, string];
  if (source !== 'key' && source !== 'entra') return undefined;
  if (!isDocumentId(documentId)) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(encoded);
  } catch {
    return undefined;
  }
  if (!id || encodeURIComponent(id) !== encoded) return undefined;
  return { callerId: `${source}:${id}`, documentId };
}
