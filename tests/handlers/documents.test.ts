/**
 * The `/v1/documents` routes at handler level, and the two functions that carry an upload to its summary: the
 * `documents-blob` trigger and the `poll-background-timer`, each invoked directly the way the host would.
 */
import { afterAll, beforeAll, describe, expect, it, inject, vi } from 'vitest';
import type { Timer } from '@azure/functions';
import { BlobServiceClient } from '@azure/storage-blob';
import { makePdf } from '../integration/documents-support';
import {
  call,
  invocationContext,
  openAIError,
  startHandlerEnv,
  until,
  type HandlerEnv,
  type TestCaller,
  runPollQueue,
} from './support';
import { blobFunction, timerFunction } from './registry';
import '../../functions/index';
import '../../functions/documents-upload';
import '../../functions/documents-get';
import '../../functions/documents-list';
import '../../functions/documents-blob';
import '../../functions/poll-background-timer';
import '../../functions/poll-background-queue';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

interface DocumentAnswer {
  id: string;
  object: string;
  status: string;
  filename: string;
  bytes: number;
  blob: string;
  status_url: string;
  summary?: string | null;
}

let env: HandlerEnv;
let alice: TestCaller;
let bob: TestCaller;

beforeAll(async () => {
  env = await startHandlerEnv();
  alice = await env.newCaller('alice');
  bob = await env.newCaller('bob');
});

afterAll(async () => {
  await env?.close();
});

async function upload(caller: TestCaller, sentences: string[], name = 'notes.pdf') {
  return call('documents-upload', {
    method: 'POST',
    key: caller.key,
    query: `filename=${encodeURIComponent(name)}`,
    body: await makePdf(sentences),
    headers: { 'content-type': 'application/pdf' },
  });
}

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

describe('POST /v1/documents (documents-upload)', () => {
  it('stores the PDF and answers 202 with the document and where to follow it', async () => {
    const answer = await upload(alice, ['Quarterly figures.'], 'q1.pdf');
    expect(answer.status).toBe(202);
    const doc = answer.json<DocumentAnswer>();
    expect(doc).toMatchObject({ object: 'document', status: 'queued', filename: 'q1.pdf' });
    expect(answer.headers.get('location')).toBe(`https://gateway.example.com/api/v1/documents/${doc.id}`);
    expect(doc.status_url).toBe(answer.headers.get('location'));
  });

  it('answers 400 naming file for a body that is not a PDF, and 401 without a key', async () => {
    const notPdf = await call('documents-upload', {
      method: 'POST',
      key: alice.key,
      query: 'filename=x.pdf',
      body: Buffer.from('GIF89a, not a PDF'),
      headers: { 'content-type': 'application/pdf' },
    });
    expect(notPdf.status).toBe(400);
    expect(openAIError(notPdf)).toMatchObject({ param: 'file', code: 'invalid_file_format' });
    const anonymous = await call('documents-upload', {
      method: 'POST',
      key: null,
      body: await makePdf(['x']),
      headers: { 'content-type': 'application/pdf' },
    });
    expect(anonymous.status).toBe(401);
  });
});

describe('GET /v1/documents/{id} and GET /v1/documents (documents-get, documents-list)', () => {
  it('shows the caller their document and lists it; another caller gets 404 and an empty list', async () => {
    const doc = (await upload(alice, ['Mine alone.'])).json<DocumentAnswer>();
    const own = await call('documents-get', { key: alice.key, params: { id: doc.id } });
    expect(own.status).toBe(200);
    expect(own.json<DocumentAnswer>()).toMatchObject({ id: doc.id, status: 'queued', summary: null });
    const listed = await call('documents-list', { method: 'GET', key: alice.key });
    expect(listed.status).toBe(200);
    expect(listed.json<{ object: string; data: { id: string }[] }>().data.map((d) => d.id)).toContain(doc.id);

    const foreign = await call('documents-get', { key: bob.key, params: { id: doc.id } });
    expect(foreign.status).toBe(404);
    expect(openAIError(foreign)).toMatchObject({ param: 'document_id', code: 'not_found' });
    const bobs = await call('documents-list', { method: 'GET', key: bob.key });
    expect(bobs.json<{ data: unknown[] }>().data).toEqual([]);
  });

  it('answers 400 naming the list parameter that is wrong', async () => {
    const answer = await call('documents-list', { method: 'GET', key: alice.key, query: 'limit=0' });
    expect(answer.status).toBe(400);
    expect(openAIError(answer).param).toBe('limit');
  });
});

describe('documents-blob and poll-background-timer, invoked directly', () => {
  it('summarize an uploaded document: the caller sees it go from queued to completed with its summary', async () => {
    const doc = (await upload(alice, ['The harvest doubled in 2025.'], 'harvest.pdf')).json<DocumentAnswer>();
    const [containerName, ...rest] = doc.blob.split('/');
    const blobName = rest.join('/');
    expect(containerName).toBe(env.documentsContainer);
    const blob = BlobServiceClient.fromConnectionString(inject('storageConnectionString'))
      .getContainerClient(containerName!)
      .getBlobClient(blobName);
    const properties = await blob.getProperties();

    // What the host hands the function for an Event Grid BlobCreated on this blob.
    await blobFunction('documents-blob').handler(
      await blob.downloadToBuffer(),
      invocationContext('documents-blob', [], {
        blobTrigger: `${containerName}/${blobName}`,
        properties: { eTag: properties.etag, lastModified: properties.lastModified!.toISOString() },
      }),
    );
    const submitted = await call('documents-get', { key: alice.key, params: { id: doc.id } });
    expect(submitted.json<DocumentAnswer>().status).not.toBe('queued');

    const tick = timerFunction('poll-background-timer').handler;
    let done: DocumentAnswer | undefined;
    await until('the document to be summarized', async () => {
      await tick(timer, invocationContext('poll-background-timer'));
      await runPollQueue();
      done = (await call('documents-get', { key: alice.key, params: { id: doc.id } })).json<DocumentAnswer>();
      return done.status === 'completed';
    });
    expect(done!.summary).toContain('The harvest doubled in 2025.');
  });
});
