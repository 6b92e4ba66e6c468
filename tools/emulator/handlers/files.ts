import busboy from 'busboy';
import type { FileDeleted, FileObject } from 'openai/resources/files';
import type { Handler } from '../context';
import { EmulatorError, badRequest, notFound } from '../errors';
import { sendJson } from '../http';
import { newFileId } from '../ids';

/** Azure accepts PDFs for Responses only with purpose `assistants` (`user_data` is not supported). */
const PURPOSES = ['assistants', 'batch', 'fine-tune', 'vision'] as const;

interface Upload {
  purpose?: string;
  filename?: string;
  data?: Buffer;
  truncated: boolean;
}

function readMultipart(ctx: Parameters<Handler>[0], maxFileBytes: number): Promise<Upload> {
  return new Promise((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: ctx.req.headers, limits: { fileSize: maxFileBytes, files: 1 } });
    } catch {
      reject(badRequest("The request must be multipart/form-data with fields 'purpose' and 'file'.", 'file'));
      return;
    }
    const upload: Upload = { truncated: false };
    parser.on('field', (name, value) => {
      if (name === 'purpose') upload.purpose = value;
    });
    parser.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      upload.filename = info.filename || 'upload.bin';
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('limit', () => (upload.truncated = true));
      stream.on('end', () => (upload.data = Buffer.concat(chunks)));
    });
    parser.on('error', () => reject(badRequest('The multipart body could not be parsed.', 'file')));
    parser.on('close', () => resolve(upload));
    ctx.req.pipe(parser);
  });
}

function tooLarge(message: string): EmulatorError {
  return new EmulatorError(413, {
    error: { message, type: 'invalid_request_error', param: 'file', code: 'file_too_large' },
  });
}

const uploadFile: Handler = async (ctx) => {
  const { state } = ctx;
  const upload = await readMultipart(ctx, state.options.maxFileBytes);
  if (upload.truncated)
    throw tooLarge(`The file is larger than the emulator's limit of ${state.options.maxFileBytes} bytes.`);
  if (!upload.purpose)
    throw badRequest("Missing required parameter: 'purpose'.", 'purpose', 'missing_required_parameter');
  if (!(PURPOSES as readonly string[]).includes(upload.purpose)) {
    throw badRequest(
      `Invalid value for 'purpose': '${upload.purpose}' is not supported. Use one of ${PURPOSES.join(', ')} (PDFs for the Responses API use 'assistants').`,
      'purpose',
      'invalid_value',
    );
  }
  if (!upload.data)
    throw badRequest("Missing required parameter: 'file'.", 'file', 'missing_required_parameter');
  if (!state.files.canAccept(upload.data.length))
    throw tooLarge('The emulator file storage is full; delete some files first.');
  const object: FileObject = {
    id: newFileId(),
    object: 'file',
    bytes: upload.data.length,
    created_at: Math.floor(Date.now() / 1000),
    filename: upload.filename ?? 'upload.bin',
    purpose: upload.purpose as FileObject['purpose'],
    status: 'processed',
  };
  state.files.add({ object, data: upload.data });
  sendJson(ctx.res, 200, object);
};

function findFile(ctx: Parameters<Handler>[0]) {
  const id = ctx.params.id ?? '';
  const record = ctx.state.files.get(id);
  if (!record) throw notFound(`File with id '${id}' not found.`, 'id', 'not_found');
  return record;
}

const getFile: Handler = (ctx) => {
  sendJson(ctx.res, 200, findFile(ctx).object);
  return Promise.resolve();
};

const getFileContent: Handler = (ctx) => {
  const record = findFile(ctx);
  ctx.res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': record.data.length,
  });
  ctx.res.end(record.data);
  return Promise.resolve();
};

const deleteFile: Handler = (ctx) => {
  const record = findFile(ctx);
  ctx.state.files.delete(record.object.id);
  const answer: FileDeleted = { id: record.object.id, object: 'file', deleted: true };
  sendJson(ctx.res, 200, answer);
  return Promise.resolve();
};

const listFiles: Handler = (ctx) => {
  const purpose = ctx.url.searchParams.get('purpose');
  const data = ctx.state.files
    .list()
    .map((f) => f.object)
    .filter((f) => !purpose || f.purpose === purpose);
  sendJson(ctx.res, 200, {
    object: 'list',
    data,
    has_more: false,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
  });
  return Promise.resolve();
};

export const fileRoutes: Array<{ method: string; template: string; handler: Handler }> = [
  { method: 'POST', template: '/files', handler: uploadFile },
  { method: 'GET', template: '/files', handler: listFiles },
  { method: 'GET', template: '/files/{id}', handler: getFile },
  { method: 'DELETE', template: '/files/{id}', handler: deleteFile },
  { method: 'GET', template: '/files/{id}/content', handler: getFileContent },
];
