/**
 * `POST /v1/documents`: the body is streamed into `documents/<caller prefix><document id>/<file name>` and
 * never held whole in memory. Accepted bodies: `Content-Type: application/pdf` (file name from `?filename=` or
 * `Content-Disposition`) or `multipart/form-data` with a `file` part. Larger than DOCUMENT_MAX_BYTES: 413, and
 * the blob is never committed (uploadStream commits its blocks only at the end), so nothing is triggered.
 */
import { Transform, Readable, type TransformCallback } from 'node:stream';
import type busboy from 'busboy';
import type { HttpRequest } from '@azure/functions';
import type { Caller } from '../callers/auth';
import { getConfig } from '../platform/config';
import { ApiError, badRequest, payloadTooLarge } from '../platform/errors';
import { resolveWebhookTarget } from '../webhooks/registration';
import { busboySdk } from '../platform/sdk';
import { container } from '../platform/storage';
import { toDocumentView, type DocumentView } from './listing';
import { apiBlobName, newDocumentId, sanitizeFilename } from './naming';
import { documentStorageNames } from './names';
import { callerPartition, createDocument, deleteDocument, mergeDocument, type DocumentEntity } from './store';
import { hasPdfHeader } from './validate';

/** Staging buffer of uploadStream: memory per upload is about BUFFER_BYTES × CONCURRENCY. */
const BUFFER_BYTES = 4 * 1024 * 1024;
const CONCURRENCY = 2;
/** Room for multipart boundaries and part headers on top of the file itself. */
const MULTIPART_OVERHEAD = 64 * 1024;

const notPdf = () =>
  badRequest("The body is not a PDF: it does not start with '%PDF-'.", 'file', 'invalid_file_format');
const emptyBody = () => badRequest('The body is empty; send a PDF.', 'file', 'empty_file');

/**
 * Counts bytes on their way to storage: fails with 413 past `maxBytes`, with 400 when the first bytes are not
 * `%PDF-` or when nothing arrives. Keeps at most the first five bytes.
 */
export class PdfGuard extends Transform {
  bytes = 0;
  error: ApiError | undefined;
  #head = Buffer.alloc(0);

  constructor(private readonly maxBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength;
    if (this.bytes > this.maxBytes) return callback((this.error = payloadTooLarge(this.maxBytes)));
    if (this.#head.byteLength < 5) {
      this.#head = Buffer.concat([this.#head, chunk.subarray(0, 5 - this.#head.byteLength)]);
      if (this.#head.byteLength >= 5 && !hasPdfHeader(this.#head)) return callback((this.error = notPdf()));
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes === 0) return callback((this.error = emptyBody()));
    if (this.#head.byteLength < 5) return callback((this.error = notPdf()));
    callback();
  }
}

/** `filename` / `filename*` of a Content-Disposition header. */
export function filenameFromDisposition(header: string | null): string | undefined {
  if (!header) return undefined;
  const extended = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(header);
  if (extended?.[2]) {
    try {
      return decodeURIComponent(extended[2].trim());
    } catch {
      // fall through to the plain parameter
    }
  }
  const plain = /filename\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]+)/i.exec(header);
  if (!plain) return undefined;
  return (plain[2] !== undefined ? plain[2].replace(/\\(.)/g, '$1') : plain[1]!).trim();
}

function bodyStream(request: HttpRequest): Readable {
  if (!request.body) return Readable.from([]);
  return Readable.fromWeb(request.body);
}

/** The `file` part of a multipart body, as a stream, as soon as its headers have arrived. */
function multipartFile(
  body: Readable,
  contentType: string,
  maxBytes: number,
): Promise<{ stream: Readable; filename: string }> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      // One byte over the limit is enough for the guard to answer 413.
      parser = busboySdk()({
        headers: { 'content-type': contentType },
        limits: { files: 1, fields: 20, fileSize: maxBytes + 1 },
      });
    } catch {
      reject(badRequest('The multipart body has no usable boundary.', 'file', 'invalid_multipart'));
      return;
    }
    let found = false;
    parser.on('file', (name, stream, info) => {
      if (name !== 'file' || found) {
        stream.resume();
        return;
      }
      found = true;
      resolve({ stream, filename: info.filename ?? '' });
    });
    parser.on('error', () => {
      if (!found) reject(badRequest('The multipart body could not be parsed.', 'file', 'invalid_multipart'));
    });
    parser.on('close', () => {
      if (!found)
        reject(badRequest("The multipart body has no 'file' part.", 'file', 'missing_required_parameter'));
    });
    body.on('error', (e) => parser.destroy(e));
    body.pipe(parser);
  });
}

/** Streams the request's PDF into storage for `caller` and returns the new document (status `queued`). */
export async function uploadDocument(caller: Caller, request: HttpRequest): Promise<DocumentView> {
  const maxBytes = getConfig().documentMaxBytes;
  const contentType = (request.headers.get('content-type') ?? '').toLowerCase();
  const multipart = contentType.startsWith('multipart/form-data');
  if (
    !multipart &&
    !contentType.startsWith('application/pdf') &&
    !contentType.startsWith('application/octet-stream')
  ) {
    throw new ApiError(
      415,
      'Send the PDF as the body with Content-Type: application/pdf, or as multipart/form-data with a `file` part.',
      'invalid_request_error',
      'unsupported_media_type',
    );
  }
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > maxBytes + (multipart ? MULTIPART_OVERHEAD : 0)) throw payloadTooLarge(maxBytes);
  const webhookUrl = await resolveWebhookTarget(caller, request.headers.get('x-webhook-url'));

  let source: Readable;
  let rawName: string | undefined;
  if (multipart) {
    const part = await multipartFile(bodyStream(request), request.headers.get('content-type')!, maxBytes);
    source = part.stream;
    rawName = request.query.get('filename') ?? part.filename;
  } else {
    source = bodyStream(request);
    rawName =
      request.query.get('filename') ?? filenameFromDisposition(request.headers.get('content-disposition'));
  }
  const filename = sanitizeFilename(rawName);
  const now = Date.now();
  const id = newDocumentId(now);
  const blobName = apiBlobName(caller, id, filename);
  const entity: DocumentEntity = {
    partitionKey: callerPartition(caller.id),
    rowKey: id,
    callerId: caller.id,
    callerName: caller.name,
    blobName,
    filename,
    createdAt: now,
  };
  if (webhookUrl) entity.webhookUrl = webhookUrl;
  // The row exists before the blob does, so the blob trigger can always tell whose upload it is.
  await createDocument(entity);

  const guard = new PdfGuard(maxBytes);
  source.on('error', (e) => guard.destroy(e));
  const blob = (await container(documentStorageNames().documents)).getBlockBlobClient(blobName);
  let etag: string | undefined;
  try {
    const result = await blob.uploadStream(source.pipe(guard), BUFFER_BYTES, CONCURRENCY, {
      blobHTTPHeaders: { blobContentType: 'application/pdf' },
      metadata: { documentid: id },
      conditions: { ifNoneMatch: '*' },
    });
    etag = result.etag;
  } catch (e) {
    source.resume();
    // The upload's own error is what the caller must hear. If removing the queued row fails too (storage down),
    // the row stays `queued` with no blob, and the caller's retry creates a new document.
    await deleteDocument(caller.id, id).catch(() => undefined);
    throw guard.error ?? e;
  }
  const uploaded = { uploaded: true, uploadedAt: Date.now(), bytes: guard.bytes, uploadEtag: etag ?? '' };
  await mergeDocument(caller.id, id, uploaded);
  return toDocumentView({ ...entity, ...uploaded });
}
