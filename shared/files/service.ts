/**
 * The Files API for PDFs used as `input_file` by `file_id` (Azure supports only `purpose: "assistants"` for
 * them, see the how-to). Uploads are relayed to Azure OpenAI with the service's identity and recorded as the
 * caller's, like responses: another caller's file id is answered 404 and cannot be used in a request.
 */
import type busboy from 'busboy';
import { Readable } from 'node:stream';
import { busboySdk, openaiUploads } from '../platform/sdk';
import type { FileObject } from 'openai/resources/files';
import type { Caller } from '../callers/auth';
import { getOpenAI } from '../platform/clients';
import { badRequest, isUpstreamError, notFound } from '../platform/errors';
import { forgetOwnership, owns, recordOwnership } from '../callers/ownership';

interface Upload {
  purpose?: string;
  filename?: string;
  contentType?: string;
  data?: Buffer;
}

function parseMultipart(raw: Buffer, contentType: string): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const upload: Upload = {};
    let parser: busboy.Busboy;
    try {
      parser = busboySdk()({ headers: { 'content-type': contentType }, limits: { files: 1, fields: 10 } });
    } catch {
      reject(
        badRequest(
          'Send the file as multipart/form-data with fields `file` and `purpose`.',
          'file',
          'invalid_multipart',
        ),
      );
      return;
    }
    parser.on('field', (name, value) => {
      if (name === 'purpose') upload.purpose = value;
    });
    parser.on('file', (name, stream, info) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (name === 'file') {
          upload.data = Buffer.concat(chunks);
          upload.filename = info.filename;
          upload.contentType = info.mimeType;
        }
      });
    });
    parser.on('error', () =>
      reject(badRequest('The multipart body could not be parsed.', 'file', 'invalid_multipart')),
    );
    parser.on('close', () => resolve(upload));
    Readable.from([raw]).pipe(parser);
  });
}

export const fileNotFound = (id: string) => notFound(`No file found with id '${id}'.`, 'file_id');

export async function uploadFile(caller: Caller, raw: Buffer, contentType: string): Promise<FileObject> {
  if (!contentType.toLowerCase().startsWith('multipart/form-data')) {
    throw badRequest(
      'Send the file as multipart/form-data with fields `file` and `purpose`.',
      'file',
      'invalid_multipart',
    );
  }
  const upload = await parseMultipart(raw, contentType);
  if (!upload.data || !upload.filename)
    throw badRequest("The multipart body has no 'file' part.", 'file', 'missing_required_parameter');
  if (upload.purpose !== 'assistants') {
    throw badRequest(
      "'purpose' must be 'assistants' (Azure OpenAI does not accept 'user_data' for PDFs yet).",
      'purpose',
    );
  }
  const file = await getOpenAI().files.create({
    file: await openaiUploads().toFile(upload.data, upload.filename, {
      type: upload.contentType ?? 'application/pdf',
    }),
    purpose: 'assistants',
  });
  await recordOwnership(caller, file.id);
  return file;
}

async function ownedOr404<T>(caller: Caller, id: string, run: () => Promise<T>): Promise<T> {
  if (!(await owns(caller, id))) throw fileNotFound(id);
  try {
    return await run();
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) throw fileNotFound(id);
    throw e;
  }
}

export const retrieveFile = (caller: Caller, id: string) =>
  ownedOr404(caller, id, () => getOpenAI().files.retrieve(id));

export async function deleteFile(caller: Caller, id: string): Promise<unknown> {
  const result = await ownedOr404(caller, id, () => getOpenAI().files.delete(id));
  await forgetOwnership(caller, id);
  return result;
}

/** Every `file_id` a request names (input files, code interpreter containers) must be the caller's. */
export async function assertFilesOwned(caller: Caller, body: Record<string, unknown>): Promise<void> {
  const ids = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (depth > 32 || value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((v) => visit(v, depth + 1));
    const obj = value as Record<string, unknown>;
    if (typeof obj.file_id === 'string' && !obj.file_id.startsWith('documents/')) ids.add(obj.file_id);
    if (Array.isArray(obj.file_ids)) obj.file_ids.forEach((id) => typeof id === 'string' && ids.add(id));
    for (const key of ['input', 'content', 'tools', 'container']) visit(obj[key], depth + 1);
  };
  visit(body, 0);
  for (const id of ids) if (!(await owns(caller, id))) throw fileNotFound(id);
}
