/**
 * Bad input: a corpus of malformed, oversized, hostile and cross-caller requests. Each one is answered with a
 * clear 4xx (OpenAI-shaped where the app answers it), never a 5xx, the host never crashes, and nothing a
 * rejected request carried is stored: no response, file, job, document or ownership record appears, upstream
 * creates nothing, and the other caller's things are untouched.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf, makePng, waitFor } from '../integration/documents-support';
import { TABLES, table } from '../../shared/platform/storage';
import { callerBlobPrefix } from '../../shared/callers/auth';
import {
  crashLines,
  isOpenAIError,
  raw,
  report,
  startReliabilityStack,
  type Caller,
  type RawResult,
  type ReliabilityStack,
} from './support';
import { setTimeout as sleep } from 'node:timers/promises';

const MAX_REQUEST_BYTES = 256 * 1024;
const DOCUMENT_MAX_BYTES = 200 * 1024;

interface Case {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Expected status; default: any 4xx. */
  status?: number | number[];
  /** The answer comes from the host's router, not the app (no OpenAI-shaped body is promised). */
  hostLevel?: boolean;
  /** Send without the attacker's key. */
  anonymous?: boolean;
}

let stack: ReliabilityStack;
let attacker: Caller;
let victim: Caller;
const victimIds = {
  response: '',
  background: '',
  file: '',
  document: '',
  message: '',
  input: '',
  container: '',
};

beforeAll(async () => {
  stack = await startReliabilityStack({
    watchBlobs: true,
    settings: {
      MAX_REQUEST_BYTES: String(MAX_REQUEST_BYTES),
      DOCUMENT_MAX_BYTES: String(DOCUMENT_MAX_BYTES),
    },
    emulator: { backgroundDurationMs: 60_000 },
  });
  attacker = await stack.newCaller('attacker');
  victim = await stack.newCaller('victim');
  const mine = await victim.client.responses.create({ model: 'gpt-4.1', input: 'Mine.' });
  victimIds.response = mine.id;
  victimIds.message = mine.output.find((i) => i.type === 'message')!.id;
  victimIds.input = (await victim.client.responses.inputItems.list(mine.id)).data[0]!.id;
  const ran = await victim.client.responses.create({
    model: 'gpt-4.1',
    input: 'Run this: count the words.',
    tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
  });
  victimIds.container = ran.output.find((i) => i.type === 'code_interpreter_call')!.container_id;
  victimIds.background = (
    await victim.client.responses.create({ model: 'gpt-4.1', input: 'Mine, later.', background: true })
  ).id;
  const pdf = await makePdf(['The victim wrote this.']);
  const form = new FormData();
  form.append('purpose', 'assistants');
  form.append('file', new Blob([pdf], { type: 'application/pdf' }), 'victim.pdf');
  const file = await raw(`${stack.baseURL()}/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${victim.key}` },
    body: form,
  });
  victimIds.file = (file.json as { id: string }).id;
  const doc = await raw(`${stack.baseURL()}/documents?filename=victim.pdf`, {
    method: 'POST',
    headers: { authorization: `Bearer ${victim.key}`, 'content-type': 'application/pdf' },
    body: pdf,
  });
  victimIds.document = (doc.json as { id: string }).id;
  // The victim's summary starts upstream asynchronously; let it, so it is not counted against the corpus.
  await waitFor(
    'the victim document to start',
    async () => {
      const res = await raw(`${stack.baseURL()}/documents/${victimIds.document}`, {
        headers: { authorization: `Bearer ${victim.key}` },
      });
      return (res.json as { status?: string }).status !== 'queued' ? true : undefined;
    },
    60_000,
  );
});

afterAll(async () => {
  await stack?.stop();
});

const json = (value: unknown) => JSON.stringify(value);
const create = (body: string | Buffer, headers: Record<string, string> = {}): Omit<Case, 'name'> => ({
  method: 'POST',
  path: '/responses',
  headers: { 'content-type': 'application/json', ...headers },
  body,
});

function corpus(): Case[] {
  const cases: Case[] = [];
  const add = (name: string, c: Omit<Case, 'name'>) => cases.push({ name, ...c });

  // Malformed JSON, on every JSON route.
  const malformed: Array<[string, string | Buffer]> = [
    ['an unclosed object', '{'],
    ['a cut-off value', '{"model":'],
    ['a bare word', 'nul'],
    ['a trailing comma', '{"input":"x",}'],
    ['single quotes', "{'input':'x'}"],
    ['an array', '[]'],
    ['a string', '"hello"'],
    ['a number', '123'],
    ['null', 'null'],
    ['true', 'true'],
    ['an empty body', ''],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b, 0x7d])],
    ['NaN', '{"temperature": NaN}'],
    ['a byte-order mark', '\ufeff{"input":"x"}'],
    ['an unterminated string', '{"input":"abc'],
    ['a raw control character', '{"input":"a\u0001b"}'],
  ];
  for (const [what, body] of malformed) add(`create: ${what}`, create(body));
  for (const route of ['/responses/compact', '/responses/input_tokens']) {
    for (const [what, body] of malformed.slice(0, 4)) {
      add(`${route}: ${what}`, { ...create(body), path: route });
    }
  }

  // Wrong types and values of the fields the service reads.
  const wrong: Array<[string, Record<string, unknown>]> = [
    ['model is a number', { model: 123, input: 'x' }],
    ['model is an array', { model: ['gpt-4.1'], input: 'x' }],
    ['model is an object', { model: { name: 'gpt-4.1' }, input: 'x' }],
    ['model is true', { model: true, input: 'x' }],
    ['model is empty', { model: '', input: 'x' }],
    ['model is not allowed', { model: 'gpt-5-not-deployed', input: 'x' }],
    ['model is a path', { model: '../../etc/passwd', input: 'x' }],
    ['model is 10,000 characters', { model: 'm'.repeat(10_000), input: 'x' }],
    ['stream is a string', { input: 'x', stream: 'true' }],
    ['stream is a number', { input: 'x', stream: 1 }],
    ['background is a string', { input: 'x', background: 'yes' }],
    ['store is a string', { input: 'x', store: 'no' }],
    ['metadata is a string', { input: 'x', metadata: 'x' }],
    ['metadata is an array', { input: 'x', metadata: [] }],
    ['instructions is a number', { input: 'x', instructions: 5 }],
    ['input is a number', { input: 42 }],
    ['input is an object', { input: { text: 'x' } }],
    ['input is true', { input: true }],
    ['tools is a string', { input: 'x', tools: 'web' }],
    ['tools is an object', { input: 'x', tools: { type: 'function' } }],
    ['a tool is a number', { input: 'x', tools: [1] }],
    ['a tool has no type', { input: 'x', tools: [{}] }],
    ['a tool type is a number', { input: 'x', tools: [{ type: 5 }] }],
    ['previous_response_id is a number', { input: 'x', previous_response_id: 5 }],
    ['previous_response_id is a path', { input: 'x', previous_response_id: '../../x' }],
    ['previous_response_id is 500 characters', { input: 'x', previous_response_id: 'r'.repeat(500) }],
    ['previous_response_id is unknown', { input: 'x', previous_response_id: 'resp_doesnotexist' }],
    ['an unknown tool type (upstream rejects it)', { input: 'x', tools: [{ type: 'teleport' }] }],
    ['no input at all (upstream rejects it)', { model: 'gpt-4.1' }],
  ];
  for (const [what, body] of wrong) add(`create: ${what}`, create(json(body)));

  // Huge bodies.
  const big = json({ input: 'x'.repeat(MAX_REQUEST_BYTES + 10) });
  add('create: body over MAX_REQUEST_BYTES with content-length', { ...create(big), status: 413 });
  add('create: 4 MiB body', { ...create(json({ input: 'y'.repeat(4 * 1024 * 1024) })), status: 413 });
  add('compact: body over MAX_REQUEST_BYTES', {
    ...create(big),
    path: '/responses/compact',
    status: 413,
  });
  add('input_tokens: body over MAX_REQUEST_BYTES', {
    ...create(big),
    path: '/responses/input_tokens',
    status: 413,
  });
  add('a 20 KiB header', {
    ...create(json({ input: 'x' }), { 'x-padding': 'p'.repeat(20 * 1024) }),
    hostLevel: true,
  });

  // Deep nesting (fits under the size limit).
  const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  add('create: input nested 50,000 arrays deep', create(`{"input":${deepArray(50_000)}}`));
  add('create: input nested 2,000 arrays deep', create(`{"input":${deepArray(2_000)}}`));
  add(
    'create: metadata nested 20,000 objects deep',
    create(`{"input":"x","metadata":${deepObject(20_000)}}`),
  );
  add('create: tools nested 10,000 deep', create(`{"input":"x","tools":[${deepObject(10_000)}]}`));
  add('compact: input nested 50,000 deep', {
    ...create(`{"input":${deepArray(50_000)}}`),
    path: '/responses/compact',
  });
  add('input_tokens: input nested 50,000 deep', {
    ...create(`{"input":${deepArray(50_000)}}`),
    path: '/responses/input_tokens',
  });

  // Malformed ids in routes.
  const badIds = [
    'not!an!id',
    'x'.repeat(200),
    '%2e%2e',
    '..%2f..%2fadmin',
    'r%C3%A9sp_1',
    'resp_%00',
    'resp%20x',
    "resp_'or'1'='1",
  ];
  for (const id of badIds) {
    // fetch resolves `%2e%2e` to `..` before sending (WHATWG URL), so that one never reaches the app's routes.
    const hostLevel = id === '%2e%2e';
    add(`retrieve: id ${id.slice(0, 24)}`, { path: `/responses/${id}`, hostLevel });
    add(`cancel: id ${id.slice(0, 24)}`, { method: 'POST', path: `/responses/${id}/cancel`, hostLevel });
  }
  add('delete: malformed id', { method: 'DELETE', path: '/responses/not!an!id' });
  add('input_items: malformed id', { path: '/responses/not!an!id/input_items' });
  add('images: malformed item id', { path: `/responses/resp_x/images/..%2f..%2fsecret` });
  add('files: malformed id', { path: '/files/not!an!id' });
  add('files delete: malformed id', { method: 'DELETE', path: '/files/..%2fx' });
  add('documents: malformed id', { path: '/documents/..%2f..%2fx' });
  add('documents: doc_ id of the wrong shape', { path: '/documents/doc_123' });

  // Another caller's ids: in a path, the same 404 an unknown id gets; in a body, the same 400 an unknown id gets
  // (naming the field). Nothing is stored and nothing goes upstream.
  const v = victimIds;
  add("retrieve: another caller's response", { path: `/responses/${v.response}`, status: 404 });
  add("retrieve stream: another caller's response", {
    path: `/responses/${v.response}?stream=true&starting_after=0`,
    status: 404,
  });
  add("cancel: another caller's background response", {
    method: 'POST',
    path: `/responses/${v.background}/cancel`,
    status: 404,
  });
  add("delete: another caller's response", {
    method: 'DELETE',
    path: `/responses/${v.response}`,
    status: 404,
  });
  add("input_items: another caller's response", {
    path: `/responses/${v.response}/input_items`,
    status: 404,
  });
  add("images: another caller's response", { path: `/responses/${v.response}/images/ig_1`, status: 404 });
  const refusedInBody: [string, Record<string, unknown>, string?][] = [
    ['create: previous_response_id of another caller', { input: 'x', previous_response_id: v.response }],
    [
      "create: item_reference to another caller's input message",
      {
        input: [
          { type: 'item_reference', id: v.input },
          { role: 'user', content: 'What did I say?' },
        ],
      },
    ],
    [
      "create: item_reference to another caller's output message",
      {
        input: [{ type: 'item_reference', id: v.message }],
      },
    ],
    [
      "create: another caller's reasoning item passed back",
      {
        input: [{ type: 'reasoning', id: v.message.replace(/^msg_/, 'rs_'), summary: [] }],
      },
    ],
    [
      "create: another caller's function call passed back",
      {
        input: [
          {
            type: 'function_call',
            id: v.message.replace(/^msg_/, 'fc_'),
            call_id: 'c1',
            name: 'f',
            arguments: '{}',
          },
        ],
      },
    ],
    [
      "create: another caller's MCP approval request",
      {
        input: [
          {
            type: 'mcp_approval_response',
            approval_request_id: v.message.replace(/^msg_/, 'mcpr_'),
            approve: true,
          },
        ],
      },
    ],
    [
      "create: another caller's code interpreter container",
      {
        input: 'x',
        tools: [{ type: 'code_interpreter', container: v.container }],
      },
    ],
    [
      "create: another caller's file as input_file",
      {
        input: [{ role: 'user', content: [{ type: 'input_file', file_id: v.file }] }],
      },
    ],
    [
      "create: another caller's file as input_image",
      {
        input: [{ role: 'user', content: [{ type: 'input_image', file_id: v.file, detail: 'auto' }] }],
      },
    ],
    [
      "create: another caller's file in a code interpreter container",
      {
        input: 'x',
        tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [v.file] } }],
      },
    ],
    [
      'create: a vector store the service does not share',
      {
        input: 'x',
        tools: [{ type: 'file_search', vector_store_ids: ['vs_abc123'] }],
      },
    ],
    ['create: a conversation the service does not share', { input: 'x', conversation: 'conv_abc123' }],
    [
      'create: a conversation object the service does not share',
      { input: 'x', conversation: { id: 'conv_abc123' } },
    ],
    ['create: a prompt the service does not share', { prompt: { id: 'pmpt_abc123' } }],
    [
      'create: an id-shaped field the service does not know',
      { input: [{ role: 'user', content: 'x', thread_id: 'thr_1' }] },
    ],
    [
      'compact: previous_response_id of another caller',
      { previous_response_id: v.response },
      '/responses/compact',
    ],
    [
      'input_tokens: previous_response_id of another caller',
      { input: 'x', previous_response_id: v.response },
      '/responses/input_tokens',
    ],
  ];
  for (const [name, body, path] of refusedInBody) {
    add(name, { ...create(json(body)), ...(path ? { path } : {}), status: 400 });
  }
  add("files: another caller's file", { path: `/files/${v.file}`, status: 404 });
  add("files delete: another caller's file", { method: 'DELETE', path: `/files/${v.file}`, status: 404 });
  add('input_items: a cursor from another caller', {
    path: `/responses/${v.response}/input_items?after=${v.input}`,
    status: 404,
  });
  add("documents: another caller's document", { path: `/documents/${v.document}`, status: 404 });
  add("jobs: paging after another caller's job", { path: `/jobs?after=${v.background}`, status: 400 });

  // Path traversal in document references.
  const traversal = [
    'documents/../victim/x.pdf',
    'documents/../../etc/passwd',
    'documents//x.pdf',
    'documents/./x.pdf',
    'documents/a\\..\\..\\b.pdf',
    'documents/%2e%2e/x.pdf',
    `documents/../${callerBlobPrefix({ id: victim.id, source: 'key', name: victim.name })}x.pdf`,
    'documents/',
    'documents/no-such-file.pdf',
  ];
  for (const ref of traversal) {
    add(`create: input_file ${ref}`, {
      ...create(json({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: ref }] }] })),
      status: 400,
    });
  }

  // Forged App Service Authentication headers while it is off: no key, no identity.
  const principal = Buffer.from(
    json({ auth_typ: 'aad', claims: [{ typ: 'oid', val: '00000000-0000-0000-0000-000000000001' }] }),
  ).toString('base64');
  const forged = {
    'x-ms-client-principal': principal,
    'x-ms-client-principal-id': '00000000-0000-0000-0000-000000000001',
    'x-ms-client-principal-name': 'admin@contoso.com',
    'x-ms-client-principal-idp': 'aad',
  };
  add('forged principal: create', { ...create(json({ input: 'x' }), forged), anonymous: true, status: 401 });
  add('forged principal: retrieve', {
    path: `/responses/${v.response}`,
    headers: forged,
    anonymous: true,
    status: 401,
  });
  add('forged principal: jobs', { path: '/jobs', headers: forged, anonymous: true, status: 401 });
  add('forged principal: files', { path: `/files/${v.file}`, headers: forged, anonymous: true, status: 401 });
  add('forged principal: documents', { path: '/documents', headers: forged, anonymous: true, status: 401 });
  add('forged principal id only', {
    path: '/jobs',
    headers: { 'x-ms-client-principal-id': 'victim' },
    anonymous: true,
    status: 401,
  });

  // Credentials that are not keys.
  const auth: Array<[string, Record<string, string>]> = [
    ['no credentials', {}],
    ['an empty bearer', { authorization: 'Bearer ' }],
    ['a 10,000-character bearer', { authorization: `Bearer ${'k'.repeat(10_000)}` }],
    ['a key of the wrong format', { authorization: 'Bearer sk-proj-abcdef' }],
    ['an unknown gateway key', { authorization: `Bearer rgw_${'A'.repeat(43)}` }],
    ['basic auth', { authorization: 'Basic YWRtaW46YWRtaW4=' }],
    ['a wrong api-key header', { 'api-key': 'emulator-key' }],
  ];
  for (const [what, headers] of auth)
    add(`auth: ${what}`, { path: '/jobs', headers, anonymous: true, status: 401 });

  // Webhook URLs that point at private, link-local or metadata addresses, or are not http(s) at all.
  const hooks = [
    'http://169.254.169.254/latest/meta-data/',
    'http://[fd00:ec2::254]/latest/meta-data/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://168.63.129.16/machine',
    'http://10.0.0.5/hook',
    'http://192.168.1.1/hook',
    'http://172.16.0.1/hook',
    'http://100.64.0.1/hook',
    'http://[fd00::1]/hook',
    'http://[fe80::1]/hook',
    'http://[::ffff:169.254.169.254]/hook',
    'http://2852039166/hook',
    'http://0.0.0.0/hook',
    'file:///etc/passwd',
    'ftp://example.com/hook',
    'gopher://127.0.0.1:6379/_INFO',
    'javascript:alert(1)',
    'not a url',
  ];
  for (const url of hooks) {
    add(`background create: X-Webhook-Url ${url}`, {
      ...create(json({ input: 'x', background: true }), { 'x-webhook-url': url }),
      status: 400,
    });
  }

  // Query parameters.
  const queries: Array<[string, string]> = [
    ['retrieve: starting_after=-1', `/responses/${v.response}?stream=true&starting_after=-1`],
    ['retrieve: starting_after=abc', `/responses/${v.response}?stream=true&starting_after=abc`],
    ['retrieve: starting_after=1e99', `/responses/${v.response}?stream=true&starting_after=1e99`],
    ['jobs: status=bogus', '/jobs?status=bogus'],
    ['jobs: kind=bogus', '/jobs?kind=bogus'],
    ['jobs: limit=0', '/jobs?limit=0'],
    ['jobs: limit=1000', '/jobs?limit=1000'],
    ['jobs: limit=abc', '/jobs?limit=abc'],
    ['jobs: after=../x', '/jobs?after=..%2Fx'],
  ];
  for (const [what, path] of queries) add(what, { path });

  // Idempotency-Key misuse.
  add('create: Idempotency-Key of 300 characters', {
    ...create(json({ input: 'x' }), { 'idempotency-key': 'k'.repeat(300) }),
    status: 400,
  });
  add('create: Idempotency-Key with a stream', {
    ...create(json({ input: 'x', stream: true }), { 'idempotency-key': 'stream-key-1' }),
    status: 400,
  });

  // Files API: bodies that are not a usable upload.
  add('files: JSON instead of multipart', {
    method: 'POST',
    path: '/files',
    headers: { 'content-type': 'application/json' },
    body: json({ purpose: 'assistants' }),
    status: 400,
  });
  add('files: multipart without a boundary', {
    method: 'POST',
    path: '/files',
    headers: { 'content-type': 'multipart/form-data' },
    body: 'garbage',
    status: 400,
  });
  add('files: body over MAX_REQUEST_BYTES', {
    method: 'POST',
    path: '/files',
    headers: { 'content-type': 'multipart/form-data; boundary=x' },
    body: Buffer.alloc(MAX_REQUEST_BYTES + 1, 0x61),
    status: 413,
  });

  // Documents API: uploads refused before anything is stored.
  const docUpload = (body: string | Buffer, contentType: string, filename = 'x.pdf') => ({
    method: 'POST',
    path: `/documents?filename=${encodeURIComponent(filename)}`,
    headers: { 'content-type': contentType },
    body,
  });
  add('documents: empty body', { ...docUpload(Buffer.alloc(0), 'application/pdf'), status: 400 });
  add('documents: text, not a PDF', { ...docUpload('hello, not a pdf', 'application/pdf'), status: 400 });
  add('documents: a PNG named .pdf', { ...docUpload(makePng(), 'application/pdf'), status: 400 });
  add('documents: HTML posing as a PDF', {
    ...docUpload('<html><script>alert(1)</script></html>', 'application/pdf'),
    status: 400,
  });
  add('documents: wrong content type', { ...docUpload('%PDF-1.7', 'text/plain'), status: 415 });
  add('documents: over DOCUMENT_MAX_BYTES', {
    ...docUpload(
      Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(DOCUMENT_MAX_BYTES)]),
      'application/pdf',
    ),
    status: 413,
  });
  add('documents: multipart without a file part', {
    method: 'POST',
    path: '/documents',
    headers: { 'content-type': 'multipart/form-data; boundary=b' },
    body: '--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nx\r\n--b--\r\n',
    status: 400,
  });
  add('documents: X-Webhook-Url to the metadata address', {
    ...docUpload('%PDF-1.7\n', 'application/pdf'),
    headers: { 'content-type': 'application/pdf', 'x-webhook-url': 'http://169.254.169.254/' },
    status: 400,
  });

  // Routes and methods that do not exist.
  add('PUT /responses', { method: 'PUT', path: '/responses', hostLevel: true });
  add('PATCH a response', { method: 'PATCH', path: `/responses/${v.response}`, hostLevel: true });
  add('GET /responses (no list route)', { path: '/responses', hostLevel: true });
  add('an unknown route', { path: '/admin/keys', hostLevel: true });
  return cases;
}

async function send(c: Case): Promise<RawResult> {
  const headers: Record<string, string> = { ...(c.headers ?? {}) };
  if (!c.anonymous) headers.authorization ??= `Bearer ${attacker.key}`;
  return raw(`${stack.baseURL()}${c.path}`, { method: c.method ?? 'GET', headers, body: c.body });
}

/** Everything the attacker could have left behind, and the victim's things, counted. */
async function footprint() {
  const ownership = await table(TABLES.ownership);
  let owned = 0;
  for await (const _ of ownership.listEntities({
    queryOptions: { filter: `PartitionKey eq '${attacker.id}'` },
  }))
    owned++;
  const blobs = BlobServiceClient.fromConnectionString(stack.storageConnectionString).getContainerClient(
    'documents',
  );
  let attackerBlobs = 0;
  const prefix = callerBlobPrefix({ id: attacker.id, source: 'key', name: attacker.name });
  if (await blobs.exists()) for await (const _ of blobs.listBlobsFlat({ prefix })) attackerBlobs++;
  const get = (path: string, key: string) =>
    raw(`${stack.baseURL()}${path}`, { headers: { authorization: `Bearer ${key}` } });
  const stats = await stack.emulatorStats();
  return {
    owned,
    attackerBlobs,
    attackerJobs: ((await get('/jobs', attacker.key)).json as { data: unknown[] }).data.length,
    attackerDocuments: ((await get('/documents', attacker.key)).json as { data: unknown[] }).data.length,
    upstreamResponses: stats.responses,
    upstreamFiles: stats.files,
    victimResponse: (await get(`/responses/${victimIds.response}`, victim.key)).status,
    // Still running (queued → in_progress on its own), i.e. not cancelled or deleted by anyone else.
    victimBackground: ['queued', 'in_progress'].includes(
      ((await get(`/responses/${victimIds.background}`, victim.key)).json as { status: string }).status,
    )
      ? 'running'
      : 'ended',
    victimFile: (await get(`/files/${victimIds.file}`, victim.key)).status,
    victimDocument: (await get(`/documents/${victimIds.document}`, victim.key)).status,
  };
}

describe('the bad-input corpus', () => {
  it('answers every case with a clear 4xx and stores nothing', async () => {
    const cases = corpus();
    expect(cases.length).toBeGreaterThanOrEqual(100);
    const before = await footprint();
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const c of cases) {
      let res: RawResult;
      try {
        res = await send(c);
      } catch (e) {
        failures.push(`${c.name}: request failed (${(e as Error).message})`);
        continue;
      }
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const expected = c.status === undefined ? undefined : [c.status].flat();
      const ok = expected ? expected.includes(res.status) : res.status >= 400 && res.status < 500;
      if (!ok) failures.push(`${c.name}: ${res.status} ${res.text.slice(0, 200)}`);
      else if (!c.hostLevel && !isOpenAIError(res.json))
        failures.push(`${c.name}: ${res.status} without an OpenAI-shaped error: ${res.text.slice(0, 200)}`);
    }
    // Asynchronous work a rejected request might have started would show within a poller/watcher cycle or two.
    await sleep(3000);
    const after = await footprint();
    report('bad-input', {
      cases: cases.length,
      statuses: Object.fromEntries([...statuses].sort(([a], [b]) => a - b)),
      failures: failures.length,
    });
    expect(failures).toEqual([]);
    expect(after).toEqual(before);
    expect(before).toMatchObject({
      owned: 0,
      attackerBlobs: 0,
      attackerJobs: 0,
      attackerDocuments: 0,
      victimResponse: 200,
      victimBackground: 'running',
      victimFile: 200,
      victimDocument: 200,
    });
    expect(stack.hostAlive()).toBe(true);
    expect(crashLines(stack.logs())).toEqual([]);
  });
});
