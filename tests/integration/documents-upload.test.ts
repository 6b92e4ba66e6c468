/**
 * `POST/GET /api/v1/documents` handlers against real storage: the body is streamed with a size cap, refused
 * bodies leave nothing behind, and callers only see their own documents.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import type { ContainerClient } from '@azure/storage-blob';
import { createKey } from '../../shared/callers/keys';
import { useDocumentStorageForTests } from '../../shared/documents/names';
import { container } from '../../shared/platform/storage';
import { documentsUpload } from '../../functions/documents-upload';
import { documentsGet } from '../../functions/documents-get';
import { documentsList } from '../../functions/documents-list';
import { withErrors } from '../../shared/platform/handler';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';
import { makePdf } from './documents-support';
import type { ErrorBody } from '../../shared/platform/errors';
import type { DocumentList, DocumentView } from '../../shared/documents/listing';

const MAX_BYTES = 50_000;

/** What the document routes answer: a document, a list, or an error. */
type Body = Omit<DocumentView, 'object'> & Omit<DocumentList, 'object'> & ErrorBody & { object: string };

let env: JobsEnv;
let documents: ContainerClient;
let alice: { name: string; key: string };
let bob: { name: string; key: string };

beforeAll(async () => {
  env = await startJobsEnv({ env: { DOCUMENT_MAX_BYTES: String(MAX_BYTES) } });
  const suffix = uniqueSuffix();
  useDocumentStorageForTests({
    documents: `up-${suffix}`,
    summaries: `upsum-${suffix}`,
    table: `updocs${suffix}`,
  });
  documents = await container(`up-${suffix}`);
  alice = { name: `alice-${suffix}`, key: '' };
  alice.key = await createKey(alice.name);
  bob = { name: `bob-${suffix}`, key: '' };
  bob.key = await createKey(bob.name);
});

afterAll(async () => {
  useDocumentStorageForTests();
  await env?.close();
});

const context = () => new InvocationContext({ functionName: 'documents' });

async function call(
  handler: typeof documentsUpload,
  init: {
    method?: string;
    url?: string;
    key?: string;
    headers?: Record<string, string>;
    body?: Uint8Array;
    params?: Record<string, string>;
  },
) {
  const request = new HttpRequest({
    method: init.method ?? 'GET',
    url: init.url ?? 'http://localhost/api/v1/documents',
    headers: { authorization: `Bearer ${init.key ?? alice.key}`, ...init.headers },
    body: init.body ? { bytes: init.body } : undefined,
    params: init.params,
  });
  const res = (await withErrors(handler)(request, context())) as HttpResponseInit;
  return { status: res.status, body: res.jsonBody as Body, headers: res.headers as Record<string, string> };
}

const upload = (body: Uint8Array, headers: Record<string, string>, query = '', key?: string) =>
  call(documentsUpload, {
    method: 'POST',
    url: `http://localhost/api/v1/documents${query}`,
    body,
    headers,
    key,
  });

async function blobsOf(callerName: string): Promise<string[]> {
  const names: string[] = [];
  for await (const b of documents.listBlobsFlat({ prefix: `key/${callerName}/` })) names.push(b.name);
  return names;
}

const list = async (key = alice.key) => (await call(documentsList, { key })).body.data;

describe('POST /api/v1/documents', () => {
  it("streams a PDF body into the caller's folder and answers 202 with the document", async () => {
    const pdf = await makePdf(['Stored as sent.']);
    const res = await upload(
      pdf,
      { 'content-type': 'application/pdf' },
      '?filename=..%2F..%2Fq1%20report.PDF',
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      object: 'document',
      status: 'queued',
      filename: 'q1 report.pdf',
      bytes: pdf.length,
    });
    expect(res.headers.location).toBe(`https://gateway.example.com/api/v1/documents/${res.body.id}`);
    const name = `key/${alice.name}/${res.body.id}/q1 report.pdf`;
    expect(res.body.blob).toBe(`${documents.containerName}/${name}`);
    const stored = await documents.getBlockBlobClient(name).downloadToBuffer();
    expect(stored.equals(pdf)).toBe(true);
    expect((await documents.getBlockBlobClient(name).getProperties()).contentType).toBe('application/pdf');
    expect((await list()).map((d) => d.id)).toContain(res.body.id);
  });

  it('takes the file name from Content-Disposition when there is no query parameter', async () => {
    const res = await upload(await makePdf(['x']), {
      'content-type': 'application/pdf',
      'content-disposition': 'attachment; filename="from header.pdf"',
    });
    expect(res.body.filename).toBe('from header.pdf');
  });

  it('accepts multipart/form-data with a file part', async () => {
    const pdf = await makePdf(['Multipart.']);
    const boundary = 'XyZboundary42';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n`),
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n`,
      ),
      pdf,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const res = await upload(body, { 'content-type': `multipart/form-data; boundary=${boundary}` });
    expect(res.status).toBe(202);
    expect(res.body.filename).toBe('scan.pdf');
    expect(res.body.bytes).toBe(pdf.length);
  });

  it('answers 413 once a body without Content-Length grows past DOCUMENT_MAX_BYTES, and stores nothing', async () => {
    const before = { blobs: await blobsOf(alice.name), docs: await list() };
    const big = await makePdf(['Too big.'], { padBytes: MAX_BYTES });
    const res = await upload(big, { 'content-type': 'application/pdf' });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('payload_too_large');
    const multipart = Buffer.concat([
      Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n\r\n'),
      big,
      Buffer.from('\r\n--b--\r\n'),
    ]);
    expect((await upload(multipart, { 'content-type': 'multipart/form-data; boundary=b' })).status).toBe(413);
    expect(await blobsOf(alice.name)).toEqual(before.blobs);
    expect(await list()).toEqual(before.docs);
  });

  it('answers 413 from the declared Content-Length before reading anything', async () => {
    const res = await upload(Buffer.from('%PDF-'), {
      'content-type': 'application/pdf',
      'content-length': String(MAX_BYTES + 1),
    });
    expect(res.status).toBe(413);
  });

  it.each([
    ['a body that is not a PDF', Buffer.from('GIF89a....'), 'application/pdf', 400, 'invalid_file_format'],
    ['an empty body', Buffer.alloc(0), 'application/pdf', 400, 'empty_file'],
    ['another content type', Buffer.from('{}'), 'application/json', 415, 'unsupported_media_type'],
    [
      'multipart without a file part',
      Buffer.from('--b\r\nContent-Disposition: form-data; name="x"\r\n\r\ny\r\n--b--\r\n'),
      'multipart/form-data; boundary=b',
      400,
      'missing_required_parameter',
    ],
  ])('refuses %s and stores nothing', async (_what, body, contentType, status, code) => {
    const before = await blobsOf(alice.name);
    const res = await upload(body, { 'content-type': contentType });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(await blobsOf(alice.name)).toEqual(before);
  });

  it('refuses X-Webhook-Url when the caller has no webhook registration', async () => {
    const res = await upload(await makePdf(['x']), {
      'content-type': 'application/pdf',
      'x-webhook-url': 'https://example.com/hook',
    });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('webhook_not_registered');
  });

  it('needs a valid key', async () => {
    expect(
      (await upload(await makePdf(['x']), { 'content-type': 'application/pdf' }, '', 'nope')).status,
    ).toBe(401);
  });
});

describe('GET /api/v1/documents', () => {
  it('shows a caller their document and answers everyone else 404 as for an unknown id', async () => {
    const created = await upload(await makePdf(['Mine.']), { 'content-type': 'application/pdf' });
    const get = (id: string, key?: string) =>
      call(documentsGet, { url: `http://localhost/api/v1/documents/${id}`, params: { id }, key });
    const mine = await get(created.body.id);
    expect(mine.status).toBe(200);
    expect(mine.body).toMatchObject({ id: created.body.id, status: 'queued', summary: null });
    const theirs = await get(created.body.id, bob.key);
    const unknown = await get('doc_00000000000000000000000000000', bob.key);
    expect(theirs.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(theirs.body.error.code).toBe(unknown.body.error.code);
    expect((await get('../../etc', bob.key)).status).toBe(400);
    expect((await list(bob.key)).map((d) => d.id)).not.toContain(created.body.id);
  });

  it('validates list parameters', async () => {
    for (const query of ['?limit=0', '?limit=101', '?after=resp_1', '?order=asc']) {
      const res = await call(documentsList, { url: `http://localhost/api/v1/documents${query}` });
      expect(res.status, query).toBe(400);
    }
  });
});
