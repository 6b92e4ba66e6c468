/**
 * PDFs already in the service's `documents` container can be used as `input_file` by blob name:
 * `{ "type": "input_file", "file_id": "documents/<name>" }`, where `<name>` is relative to the caller's own
 * folder. The service reads the blob with its own identity and sends it upstream inline as `file_data`, or,
 * above PDF_FILES_API_THRESHOLD_BYTES, through the Files API (`purpose: assistants`) by `file_id`, streamed from
 * storage.
 */
import type { Readable } from 'node:stream';
import { callerBlobPrefix, type Caller } from '../callers/auth';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { badRequest, conflict, isUpstreamError } from '../platform/errors';
import { CONTAINERS, container, isNotFound } from '../platform/storage';
import { fileIdPart, inlinePdfPart, uploadPdfFromBlob } from '../documents/input';
import type { Log } from '../platform/log';

async function readAll(stream: Readable | undefined): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream ?? []) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const isPreconditionFailed = (e: unknown) => (e as { statusCode?: number } | null)?.statusCode === 412;

const PREFIX = 'documents/';

interface FilePart {
  type: 'input_file';
  file_id?: string;
  file_data?: string;
  filename?: string;
}

function* fileParts(input: unknown): Generator<FilePart> {
  if (!Array.isArray(input)) return;
  for (const item of input as unknown[]) {
    const content = (item as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (const part of content as unknown[]) {
      const p = part as FilePart | null;
      if (p?.type === 'input_file' && typeof p.file_id === 'string' && p.file_id.startsWith(PREFIX)) yield p;
    }
  }
}

/** Blob names are the caller's, so no `..` or absolute tricks can reach another caller's folder. */
function blobNameFor(caller: Caller, ref: string): string {
  const relative = ref.slice(PREFIX.length);
  if (
    !relative ||
    relative.split('/').some((s) => s === '' || s === '.' || s === '..') ||
    relative.length > 512
  ) {
    throw badRequest(`'${ref}' is not a valid document name.`, 'input', 'invalid_document');
  }
  return callerBlobPrefix(caller) + relative;
}

/**
 * Replaces document references in `body.input` in place. Returns the ids of files uploaded to the Files API,
 * which the caller of this function deletes once the response has ended.
 */
export async function resolveDocumentRefs(caller: Caller, body: Record<string, unknown>): Promise<string[]> {
  const parts = [...fileParts(body.input)];
  if (parts.length === 0) return [];
  const documents = await container(CONTAINERS.documents);
  const threshold = getConfig().filesApiThresholdBytes;
  const uploaded: string[] = [];
  for (const part of parts) {
    const ref = part.file_id!;
    const filename = ref.split('/').pop()!;
    const blobName = blobNameFor(caller, ref);
    const blob = documents.getBlobClient(blobName);
    delete part.file_id;
    try {
      // One GET gives the size, the version and (for small PDFs, the common case) the bytes. A large one is
      // not read here: the Files API upload streams it from storage, pinned to the version this GET saw, so a
      // blob being replaced is never read as a mix of two versions.
      const download = await blob.download();
      const body = download.readableStreamBody as Readable | undefined;
      if ((download.contentLength ?? 0) > threshold) {
        body?.destroy();
        const fileId = await uploadPdfFromBlob(blobName, download.etag!, filename, documents);
        uploaded.push(fileId);
        Object.assign(part, fileIdPart(fileId));
      } else {
        Object.assign(part, inlinePdfPart(await readAll(body), filename));
      }
    } catch (e) {
      if (isNotFound(e)) throw badRequest(`No document named '${ref}'.`, 'input', 'document_not_found');
      if (isPreconditionFailed(e))
        throw conflict(`The document '${ref}' changed while it was being read; send the request again.`);
      throw e;
    }
  }
  return uploaded;
}

/**
 * Removes the Files API uploads made for one response once it no longer needs them. One already gone is fine; a
 * failed delete is logged, not thrown: the answer the caller waits for does not depend on it, and an upload left
 * behind only costs storage upstream until it is deleted by hand.
 */
export async function deleteUploadedFiles(ids: string[], log: Log): Promise<void> {
  await Promise.all(
    ids.map((id) =>
      getOpenAI()
        .files.delete(id)
        .catch((e: unknown) => {
          if (isUpstreamError(e) && e.status === 404) return;
          log.warn(
            JSON.stringify({
              event: 'response.file_delete_failed',
              fileId: id,
              error: e instanceof Error ? e.message : String(e),
            }),
          );
        }),
    ),
  );
}
