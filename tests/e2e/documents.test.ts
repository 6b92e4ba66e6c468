/**
 * Document summaries through the running app: blobs dropped into Azurite's `documents` container (the local
 * host's blob watcher fires the Event Grid blob trigger), API uploads with status and signed webhooks, the Files
 * API path, the rejection corpus, duplicate events, re-uploads, and caller isolation.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import { Webhook } from 'standardwebhooks';
import { registerWebhook } from '../../shared/webhooks/registration';
import { makePdf, rejectionCorpus, sleep, waitFor } from '../integration/documents-support';
import type { ErrorBody } from '../../shared/platform/errors';
import type { DocumentList, DocumentView } from '../../shared/documents/listing';
import type { SummaryRecord } from '../../shared/documents/records';
import { startStack, type Stack } from './stack';

/** What the document routes answer: a document, a list, or an error. */
type Body = Omit<DocumentView, 'object'> &
  Omit<DocumentList, 'object'> &
  ErrorBody & { object: string; status_url: string };

const MAX_BYTES = 150_000;
const THRESHOLD = 20_000;

interface Delivery {
  verified: boolean;
  event: { id: string; type: string; data: Record<string, unknown> };
}

let stack: Stack;
let documents: ContainerClient;
let summaries: ContainerClient;
let owner: { name: string; key: string };
let other: { name: string; key: string };
let receiver: Server;
let secret: string;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  stack = await startStack({
    watchBlobs: true,
    emulator: { backgroundDurationMs: 400 },
    settings: {
      DOCUMENT_MAX_BYTES: String(MAX_BYTES),
      PDF_FILES_API_THRESHOLD_BYTES: String(THRESHOLD),
      WEBHOOK_SCHEDULE: '*/1 * * * * *',
    },
  });
  const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  documents = service.getContainerClient('documents');
  summaries = service.getContainerClient('summaries');
  await documents.createIfNotExists();
  await summaries.createIfNotExists();
  owner = await stack.newCaller('docs');
  other = await stack.newCaller('docs-other');
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let verified: boolean;
      try {
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      deliveries.push({ verified, event: JSON.parse(body) as Delivery['event'] });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  secret = (await registerWebhook(owner.name, `http://127.0.0.1:${port}/hooks`)).secret;
});

afterAll(async () => {
  await stack?.stop();
  receiver?.close();
});

const logs = () => `host log tail:\n${stack.hostLogs().slice(-5000)}`;

/** One GET (not downloadToBuffer, which can cut a blob replaced meanwhile short). */
async function download(container: ContainerClient, name: string): Promise<string | undefined> {
  try {
    const res = await container.getBlockBlobClient(name).download();
    const chunks: Buffer[] = [];
    for await (const c of res.readableStreamBody!) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  } catch (e) {
    if ((e as { statusCode?: number }).statusCode === 404) return undefined;
    throw e;
  }
}

async function readJson(container: ContainerClient, name: string): Promise<SummaryRecord | undefined> {
  const text = await download(container, name);
  return text === undefined ? undefined : (JSON.parse(text) as SummaryRecord);
}

const readText = (name: string) => download(summaries, name);

/** Waits until `summaries/<base>.json` is final for the blob version `etag` (any version when omitted). */
function finalRecord(base: string, etag?: string, timeoutMs = 30_000): Promise<SummaryRecord> {
  return waitFor(
    `summaries/${base}.json`,
    async () => {
      const record = await readJson(summaries, `${base}.json`);
      if (!record || record.status === 'processing') return undefined;
      if (etag && record.source.etag !== etag) return undefined;
      return record;
    },
    timeoutMs,
    logs,
  );
}

async function api(path: string, init: RequestInit & { key?: string } = {}) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    ...init,
    headers: {
      authorization: `Bearer ${init.key ?? owner.key}`,
      ...(init.headers as Record<string, string>),
    },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Body };
}

async function uploadPdf(pdf: Buffer, filename: string, key = owner.key) {
  return api(`/documents?filename=${encodeURIComponent(filename)}`, {
    method: 'POST',
    key,
    headers: { 'content-type': 'application/pdf' },
    body: pdf,
  });
}

async function documentDone(id: string, key = owner.key): Promise<Body> {
  return waitFor(
    `document ${id}`,
    async () => {
      const res = await api(`/documents/${id}`, { key });
      expect(res.status).toBe(200);
      return ['completed', 'failed', 'rejected'].includes(res.body.status) ? res.body : undefined;
    },
    30_000,
    logs,
  );
}

const creates = async () => (await stack.emulatorStats()).requests;

describe('PDFs dropped into the documents container', () => {
  it('are summarized into summaries/<path>.md with a record, without any API call', async () => {
    const base = `drop-${randomUUID().slice(0, 8)}/reports/annual`;
    const pdf = await makePdf([
      'The lighthouse keeper counted 318 ships in March.',
      'Fog delayed nine of them.',
    ]);
    const upload = await documents.getBlockBlobClient(`${base}.pdf`).uploadData(pdf);
    const record = await finalRecord(base, upload.etag);
    expect(record).toMatchObject({
      status: 'completed',
      source: { container: 'documents', name: `${base}.pdf`, etag: upload.etag, bytes: pdf.length },
      summary_blob: `${base}.md`,
      deployment: 'gpt-4.1-mini',
      input: 'file_data',
      document_id: null,
      error: null,
    });
    expect(record.response_id).toMatch(/^resp_/);
    expect(record.usage!.input_tokens).toBeGreaterThan(0);
    expect(await readText(`${base}.md`)).toContain('The lighthouse keeper counted 318 ships in March.');
    expect((await documents.getBlockBlobClient(`${base}.pdf`).downloadToBuffer()).equals(pdf)).toBe(true);
  });

  it('above the Files API threshold travel by file id, and the file is deleted upstream afterwards', async () => {
    const base = `large-${randomUUID().slice(0, 8)}`;
    const pdf = await makePdf(['This large report went through the Files API.'], {
      padBytes: THRESHOLD + 10_000,
    });
    const before = await creates();
    const upload = await documents.getBlockBlobClient(`${base}.pdf`).uploadData(pdf);
    const record = await finalRecord(base, upload.etag);
    expect(record).toMatchObject({ status: 'completed', input: 'file_id' });
    expect(await readText(`${base}.md`)).toContain('This large report went through the Files API.');
    const after = await creates();
    expect((after['POST /files'] ?? 0) - (before['POST /files'] ?? 0)).toBe(1);
    await waitFor('the uploaded file to be deleted', async () =>
      (after['DELETE /files/{id}'] ?? 0) > (before['DELETE /files/{id}'] ?? 0) ||
      ((await creates())['DELETE /files/{id}'] ?? 0) > (before['DELETE /files/{id}'] ?? 0)
        ? true
        : undefined,
    );
    expect((await stack.emulatorStats()).files).toBe(0);
  });

  it('are rejected with a reason when they are not usable PDFs, and the blobs stay', async () => {
    const prefix = `reject-${randomUUID().slice(0, 8)}`;
    const corpus = await rejectionCorpus(MAX_BYTES + 1);
    const before = await creates();
    await Promise.all(
      corpus.map((item) => documents.getBlockBlobClient(`${prefix}/${item.name}`).uploadData(item.data)),
    );
    for (const item of corpus) {
      const name = `${prefix}/${item.name}`;
      const base = name.endsWith('.pdf') ? name.slice(0, -4) : name;
      const record = await finalRecord(base);
      expect(record, item.name).toMatchObject({
        status: 'rejected',
        error: { code: item.code },
        response_id: null,
      });
      expect(await readText(`${base}.md`)).toBeUndefined();
      expect((await documents.getBlockBlobClient(name).getProperties()).contentLength).toBe(item.data.length);
    }
    expect((await creates())['POST /responses'] ?? 0).toBe(before['POST /responses'] ?? 0);
  });

  it('make one job when the same Event Grid event arrives more than once', async () => {
    const name = `dup-${randomUUID().slice(0, 8)}.pdf`;
    const blob = documents.getBlockBlobClient(name);
    const before = (await creates())['POST /responses'] ?? 0;
    await blob.uploadData(await makePdf(['Told twice, done once.']));
    const event = [
      {
        id: randomUUID(),
        topic:
          '/subscriptions/x/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
        subject: `/blobServices/default/containers/documents/blobs/${name}`,
        eventType: 'Microsoft.Storage.BlobCreated',
        eventTime: new Date().toISOString(),
        dataVersion: '',
        metadataVersion: '1',
        data: { api: 'PutBlob', contentType: 'application/pdf', blobType: 'BlockBlob', url: blob.url },
      },
    ];
    const post = () =>
      fetch(`${stack.hostUrl}/runtime/webhooks/blobs?functionName=Host.Functions.documents-blob`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification' },
        body: JSON.stringify(event),
      });
    const answers = await Promise.all([post(), post()]);
    expect(answers.map((r) => r.status)).toEqual([202, 202]);
    await finalRecord(name.slice(0, -4));
    expect((await post()).status).toBe(202);
    await sleep(1500);
    expect(((await creates())['POST /responses'] ?? 0) - before).toBe(1);
    expect(stack.hostLogs()).toContain('"outcome":"duplicate"');
  });

  it('get a new summary when a new version is uploaded under the same name', async () => {
    const base = `versioned-${randomUUID().slice(0, 8)}`;
    const blob = documents.getBlockBlobClient(`${base}.pdf`);
    const v1 = await blob.uploadData(await makePdf(['The first draft names Alice as the author.']));
    await finalRecord(base, v1.etag);
    expect(await readText(`${base}.md`)).toContain('Alice');
    const v2 = await blob.uploadData(await makePdf(['The final version names Bob as the author.']));
    const record = await finalRecord(base, v2.etag);
    expect(record.source.etag).toBe(v2.etag);
    const text = await readText(`${base}.md`);
    expect(text).toContain('Bob');
    expect(text).not.toContain('Alice');
  });
});

describe('POST /api/v1/documents', () => {
  it('streams the PDF into storage, answers 202 with a status URL, and notifies with a signed webhook', async () => {
    const pdf = await makePdf(['Invoice 2291 totals 4,310 euros.', 'Payment is due in thirty days.']);
    const res = await uploadPdf(pdf, 'invoice 2291.pdf');
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      object: 'document',
      status: 'queued',
      filename: 'invoice 2291.pdf',
      bytes: pdf.length,
    });
    expect(res.body.id).toMatch(/^doc_/);
    expect(res.body.status_url).toMatch(new RegExp(`/api/v1/documents/${res.body.id}$`));
    expect(res.headers.get('location')).toBe(res.body.status_url);
    expect(res.body.blob).toMatch(
      new RegExp(`^documents/key/${owner.name}/${res.body.id}/invoice 2291\\.pdf$`),
    );

    const done = await documentDone(res.body.id);
    expect(done).toMatchObject({ status: 'completed', error: null, deployment: 'gpt-4.1-mini' });
    expect(done.summary).toContain('Invoice 2291 totals 4,310 euros.');
    expect(done.response_id).toMatch(/^resp_/);
    const record = await readJson(
      summaries,
      done.summary_blob!.replace(/^summaries\//, '').replace(/\.md$/, '.json'),
    );
    expect(record).toMatchObject({ status: 'completed', document_id: res.body.id });

    const delivery = await waitFor(
      'the document.summarized webhook',
      () => Promise.resolve(deliveries.find((d) => d.event.data.id === res.body.id)),
      20_000,
      logs,
    );
    expect(delivery.verified).toBe(true);
    expect(delivery.event).toMatchObject({
      type: 'document.summarized',
      data: { id: res.body.id, object: 'document', status: 'completed', response_id: done.response_id },
    });
    expect(delivery.event.data.url).toMatch(new RegExp(`/api/v1/documents/${res.body.id}$`));

    // The response behind the summary is the caller's too.
    expect((await api(`/responses/${done.response_id}`)).status).toBe(200);
  });

  it('accepts multipart/form-data with a file part', async () => {
    const form = new FormData();
    form.append(
      'file',
      new Blob([await makePdf(['Sent as a form.'])], { type: 'application/pdf' }),
      'form.pdf',
    );
    const res = await api('/documents', { method: 'POST', body: form });
    expect(res.status).toBe(202);
    expect(res.body.filename).toBe('form.pdf');
    expect((await documentDone(res.body.id)).summary).toContain('Sent as a form.');
  });

  it('rejects a broken PDF after upload with a document.failed webhook', async () => {
    const good = await makePdf(['Cut in half.']);
    const res = await uploadPdf(good.subarray(0, Math.floor(good.length / 2)), 'broken.pdf');
    expect(res.status).toBe(202);
    const done = await documentDone(res.body.id);
    expect(done).toMatchObject({ status: 'rejected', error: { code: 'unreadable_pdf' }, summary: null });
    const delivery = await waitFor('the document.failed webhook', () =>
      Promise.resolve(deliveries.find((d) => d.event.data.id === res.body.id)),
    );
    expect(delivery).toMatchObject({
      verified: true,
      event: { type: 'document.failed', data: { status: 'rejected' } },
    });
  });

  it('refuses bodies that are not PDFs (400), too large (413), or of another type (415), storing nothing', async () => {
    const listBefore = (await api('/documents?limit=100')).body.data.length;
    expect((await uploadPdf(Buffer.from('hello'), 'x.pdf')).body.error.code).toBe('invalid_file_format');
    const big = await makePdf(['big'], { padBytes: MAX_BYTES + 1 });
    const tooLarge = await uploadPdf(big, 'big.pdf');
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('payload_too_large');
    const json = await api('/documents', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(json.status).toBe(415);
    expect((await api('/documents?limit=100')).body.data.length).toBe(listBefore);
  });

  it('lists the caller’s documents newest first, page by page', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3])
      ids.push((await uploadPdf(await makePdf([`Page ${n}.`]), `list-${n}.pdf`)).body.id);
    const page1 = await api('/documents?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ object: 'list', has_more: true });
    expect(page1.body.data.map((d) => d.id)).toEqual([ids[2], ids[1]]);
    const page2 = await api(`/documents?limit=2&after=${page1.body.last_id}`);
    expect(page2.body.data[0]?.id).toBe(ids[0]);
    expect(page2.body.data[0]).not.toHaveProperty('summary');
    expect((await api('/documents?order=asc')).status).toBe(400);
  });

  it("answers another caller's document id exactly like an unknown one, and never lists it", async () => {
    const mine = await uploadPdf(await makePdf(['Private.']), 'private.pdf');
    const theirs = await api(`/documents/${mine.body.id}`, { key: other.key });
    const unknown = await api(`/documents/doc_0000000000000${'0'.repeat(16)}`, { key: other.key });
    expect(theirs.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(theirs.body.error.code).toBe(unknown.body.error.code);
    expect(theirs.body.error.message.replace(mine.body.id, 'ID')).toBe(
      unknown.body.error.message.replace(`doc_0000000000000${'0'.repeat(16)}`, 'ID'),
    );
    expect((await api('/documents?limit=100', { key: other.key })).body.data).toEqual([]);
    expect((await api(`/documents/${mine.body.id}`, { key: 'wrong' })).status).toBe(401);
  });
});
