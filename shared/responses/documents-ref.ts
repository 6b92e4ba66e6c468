/**
 * PDFs already in the service's `documents` container can be used as `input_file` by blob name:
 * `{ "type": "input_file", "file_id": "documents/<name>" }`, where `<name>` is relative to the caller's own
 * folder. The service reads the blob with its own identity and sends it upstream inline as `file_data`, or,
 * above PDF_FILES_API_THRESHOLD_BYTES, through the Files API (`purpose: assistants`) by `file_id`.
 */
import { callerBlobPrefix, type Caller } from '../auth';
import { getOpenAI } from '../clients';
import { getConfig } from '../config';
import { badRequest } from '../errors';
import { CONTAINERS, container, isNotFound } from '../storage';
import { fileIdPart, inlinePdfPart, uploadPdf } from '../documents/input';

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

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
    // One GET: a separate size check and read could see two versions of a blob being replaced.
    let bytes: Buffer;
    try {
      const download = await documents.getBlobClient(blobNameFor(caller, ref)).download();
      bytes = await readAll(download.readableStreamBody!);
    } catch (e) {
      if (isNotFound(e)) throw badRequest(`No document named '${ref}'.`, 'input', 'document_not_found');
      throw e;
    }
    delete part.file_id;
    if (bytes.length > threshold) {
      const fileId = await uploadPdf(bytes, filename);
      uploaded.push(fileId);
      Object.assign(part, fileIdPart(fileId));
    } else {
      Object.assign(part, inlinePdfPart(bytes, filename));
    }
  }
  return uploaded;
}

/** Best-effort removal of Files API uploads made for one response. */
export async function deleteUploadedFiles(ids: string[]): Promise<void> {
  await Promise.all(
    ids.map((id) =>
      getOpenAI()
        .files.delete(id)
        .catch(() => undefined),
    ),
  );
}
