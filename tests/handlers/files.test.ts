/** The `/v1/files` routes at handler level, against Azurite and the emulator's Files API. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { FileObject } from 'openai/resources/files';
import { makePdf } from '../integration/documents-support';
import { call, openAIError, startHandlerEnv, type HandlerEnv, type TestCaller } from './support';
import '../../functions/index';
import '../../functions/files-create';
import '../../functions/files-get';
import '../../functions/files-delete';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

let env: HandlerEnv;
let alice: TestCaller;
let bob: TestCaller;
let pdf: Buffer;

beforeAll(async () => {
  env = await startHandlerEnv();
  alice = await env.newCaller('alice');
  bob = await env.newCaller('bob');
  pdf = await makePdf(['A file uploaded through the handler.']);
});

afterAll(async () => {
  await env?.close();
});

/** A multipart/form-data body as an SDK sends it: bytes and the content-type with its boundary. */
async function multipart(fields: Record<string, string>, file?: { name: string; data: Buffer }) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (file) form.append('file', new Blob([file.data], { type: 'application/pdf' }), file.name);
  const encoded = new Response(form);
  return {
    body: new Uint8Array(await encoded.arrayBuffer()),
    headers: { 'content-type': encoded.headers.get('content-type')! },
  };
}

async function upload(caller: TestCaller, name = 'report.pdf'): Promise<FileObject> {
  const answer = await call('files-create', {
    key: caller.key,
    ...(await multipart({ purpose: 'assistants' }, { name, data: pdf })),
  });
  expect(answer.status, answer.text).toBe(200);
  return answer.json<FileObject>();
}

describe('POST /v1/files (files-create)', () => {
  it('uploads a PDF and answers the file object', async () => {
    const file = await upload(alice, 'q3.pdf');
    expect(file).toMatchObject({
      object: 'file',
      filename: 'q3.pdf',
      purpose: 'assistants',
      bytes: pdf.length,
    });
    expect(file.id).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('answers 400 naming purpose for a purpose Azure refuses, and naming file when there is no file part', async () => {
    const purpose = await call('files-create', {
      key: alice.key,
      ...(await multipart({ purpose: 'user_data' }, { name: 'a.pdf', data: pdf })),
    });
    expect(purpose.status).toBe(400);
    expect(openAIError(purpose)).toMatchObject({ type: 'invalid_request_error', param: 'purpose' });
    const noFile = await call('files-create', {
      key: alice.key,
      ...(await multipart({ purpose: 'assistants' })),
    });
    expect(noFile.status).toBe(400);
    expect(openAIError(noFile)).toMatchObject({ param: 'file', code: 'missing_required_parameter' });
  });

  it('answers 401 without a key', async () => {
    const answer = await call('files-create', { key: null, ...(await multipart({ purpose: 'assistants' })) });
    expect(answer.status).toBe(401);
    expect(openAIError(answer).code).toBe('invalid_api_key');
  });
});

describe('GET /v1/files/{id} (files-get)', () => {
  it("retrieves the caller's file and answers another caller's id with 404", async () => {
    const file = await upload(alice);
    const own = await call('files-get', { key: alice.key, params: { id: file.id } });
    expect(own.status).toBe(200);
    expect(own.json<FileObject>()).toMatchObject({ id: file.id, filename: 'report.pdf' });
    const foreign = await call('files-get', { key: bob.key, params: { id: file.id } });
    expect(foreign.status).toBe(404);
    expect(openAIError(foreign)).toMatchObject({ param: 'file_id', code: 'not_found' });
  });
});

describe('DELETE /v1/files/{id} (files-delete)', () => {
  it("deletes the caller's file, after which it is 404; another caller cannot delete it", async () => {
    const file = await upload(alice);
    const foreign = await call('files-delete', { method: 'DELETE', key: bob.key, params: { id: file.id } });
    expect(foreign.status).toBe(404);
    expect((await call('files-get', { key: alice.key, params: { id: file.id } })).status).toBe(200);

    const deleted = await call('files-delete', { method: 'DELETE', key: alice.key, params: { id: file.id } });
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toMatchObject({ id: file.id, deleted: true });
    const after = await call('files-get', { key: alice.key, params: { id: file.id } });
    expect(after.status).toBe(404);
    expect(openAIError(after).param).toBe('file_id');
  });
});
