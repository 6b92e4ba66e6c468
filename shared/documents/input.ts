/**
 * A PDF as Responses API input: inline as a `file_data` data URI, or, above PDF_FILES_API_THRESHOLD_BYTES,
 * uploaded through the Files API (`purpose: "assistants"`, the only purpose Azure OpenAI accepts for PDFs) and
 * referenced by `file_id`. Same rule as `shared/responses/documents-ref.ts` uses for the chat path.
 */
import { Readable } from 'node:stream';
import { openaiUploads } from '../platform/sdk';
import type { ResponseInputFile } from 'openai/resources/responses/responses';
import { getOpenAI } from '../platform/clients';
import type { ContainerClient } from '@azure/storage-blob';
import { container } from '../platform/storage';
import { documentStorageNames } from './names';

/** How a PDF of `bytes` bytes is sent, given the threshold in bytes. */
export const inputModeFor = (bytes: number, thresholdBytes: number): 'file_data' | 'file_id' =>
  bytes > thresholdBytes ? 'file_id' : 'file_data';

/**
 * The inline part. The base64 text is made once from `data` (no intermediate copy of the bytes); the SDK then
 * serializes it into the request body.
 */
export function inlinePdfPart(data: Buffer, filename: string): ResponseInputFile {
  return {
    type: 'input_file',
    filename,
    file_data: `data:application/pdf;base64,${data.toString('base64')}`,
  };
}

export const fileIdPart = (fileId: string): ResponseInputFile => ({ type: 'input_file', file_id: fileId });

/**
 * Whether `etag` is one storage issued, so the blob can be read again pinned to that version. The trigger
 * stands in a content hash (`"sha256-…"`) when the host gave no ETag (see trigger.ts); that cannot be matched.
 */
export const isStorageEtag = (etag: string): boolean => etag !== '' && !etag.startsWith('"sha256-');

/**
 * Whether the Files API upload of this blob version reads it from storage ({@link uploadPdfFromBlob}): above
 * the threshold (bytes), when its ETag is storage's. The trigger's bytes are then not needed once the PDF is
 * validated.
 */
export const uploadsFromStorage = (
  source: { bytes: number; etag: string },
  thresholdBytes: number,
): boolean => inputModeFor(source.bytes, thresholdBytes) === 'file_id' && isStorageEtag(source.etag);

/** One Files API upload attempt with a streamed multipart body (chunked, no `Content-Length`). */
async function createStreamed(data: AsyncIterable<Uint8Array>, filename: string): Promise<string> {
  const file = await getOpenAI().files.create(
    {
      file: openaiUploads().toStreamingFile(data, filename, { type: 'application/pdf' }),
      purpose: 'assistants',
    },
    // The multipart body is produced once per call, so the SDK could not replay it on a retry.
    { maxRetries: 0 },
  );
  return file.id;
}

/**
 * Uploads a PDF to the Files API and returns the file id. `maxRetries` as the SDK option. With 0 (the caller
 * retries) the Buffer itself is streamed into the request; with SDK retries the SDK needs a body it can send
 * again, so it builds an in-memory `File` from `data` and a form from that (about two copies while it runs).
 */
export async function uploadPdf(data: Buffer, filename: string, maxRetries?: number): Promise<string> {
  // A one-chunk stream: the multipart encoder sends the Buffer itself, not a copy.
  if (maxRetries === 0) return createStreamed(Readable.from([data]), filename);
  const file = await getOpenAI().files.create(
    {
      file: await openaiUploads().toFile(data, filename, { type: 'application/pdf' }),
      purpose: 'assistants',
    },
    maxRetries === undefined ? undefined : { maxRetries },
  );
  return file.id;
}

/**
 * Uploads `documents/<blob>` (or `<blob>` of `from`) to the Files API as it is read from storage, so no copy of
 * the file is held, and returns the file id. The read is pinned to `etag` (a RestError with status 412 if the blob changed since, 404
 * if it is gone); an interrupted read resumes with ranged requests under the same condition, so two versions
 * never mix. One attempt: the caller retries (each call reads the blob afresh).
 */
export async function uploadPdfFromBlob(
  blob: string,
  etag: string,
  filename: string,
  from?: ContainerClient,
): Promise<string> {
  const documents = from ?? (await container(documentStorageNames().documents));
  const download = await documents
    .getBlobClient(blob)
    .download(0, undefined, { conditions: { ifMatch: etag }, maxRetryRequests: 3 });
  const body = download.readableStreamBody as Readable | undefined;
  if (!body) throw new Error(`Blob ${blob} was read without a body.`);
  try {
    return await createStreamed(body, filename);
  } finally {
    // A refused or failed request may leave the download unread; release its connection.
    body.destroy();
  }
}
