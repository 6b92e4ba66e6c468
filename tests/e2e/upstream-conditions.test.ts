/**
 * One test per row of docs/upstream-conditions.md: each condition Azure OpenAI can produce (injected with the
 * emulator's fault knobs and marker words), what the caller sees, what the service records, which webhook it
 * sends, and what went upstream (the emulator's request log). Assertions are on the gateway's own answers,
 * codes and records; the emulator's prose is not asserted.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import OpenAI from 'openai';
import { registerWebhook } from '../../shared/webhooks/registration';
import { openForCaller } from '../../shared/platform/caller-ids';
import type { ErrorBody } from '../../shared/platform/errors';
import type { SummaryRecord } from '../../shared/documents/records';
import { makePdf, waitFor } from '../integration/documents-support';
import { readEmulatorRequests, type LoggedRequest } from '../support/emulator-requests';
import { startStack, type Stack } from './stack';

interface Caller {
  name: string;
  key: string;
  client: OpenAI;
}

interface Delivery {
  event: { id: string; type: string; data: { id: string; status?: string } & Record<string, unknown> };
}

interface Frame {
  type: string;
  sequence_number?: number;
  code?: string | null;
  message?: string;
  param?: string | null;
  response?: {
    id: string;
    status: string;
    error: { code: string; message: string } | null;
    incomplete_details: { reason: string } | null;
  };
}

let stack: Stack;
let caller: Caller;
let receiver: Server;
let documents: ContainerClient;
let summaries: ContainerClient;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  stack = await startStack({
    watchBlobs: true,
    emulator: { backgroundDurationMs: 600, streamEventDelayMs: 10 },
    settings: { AZURE_OPENAI_TIMEOUT_MS: '5000', AZURE_OPENAI_MAX_RETRIES: '2' },
  });
  caller = await stack.newCaller('conditions');
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliveries.push({ event: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivery['event'] });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  await registerWebhook(caller.name, `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`);
  const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
  documents = service.getContainerClient('documents');
  summaries = service.getContainerClient('summaries');
  await documents.createIfNotExists();
  await summaries.createIfNotExists();
});

afterAll(async () => {
  await stack?.stop();
  receiver?.close();
});

// Faults a test injected never outlive it, even when it fails before they are used up.
afterEach(async () => {
  await stack?.clearFaults();
});

const logs = () => `host log tail:\n${stack.hostLogs().slice(-4000)}`;

const body = (fields: Record<string, unknown>) => ({ model: 'gpt-4.1', ...fields });

/**
 * The emulator's request log position now. Tests in this file run one at a time and only they create, so the
 * creates logged after a mark are the ones the test caused (a faulted request is logged before its body is read,
 * so it has no body namespace: marks work for those too).
 */
async function mark(): Promise<number> {
  return (await readEmulatorRequests(stack.emulatorUrl)).at(-1)?.seq ?? 0;
}

/** The creates (`POST /responses`) that went upstream after `since`. */
const sentUpstream = (since: number): Promise<LoggedRequest[]> =>
  readEmulatorRequests(stack.emulatorUrl, { method: 'POST', route: '/responses', since });

async function post(path: string, body: unknown, headers: Record<string, string> = {}, key = caller.key) {
  const res = await fetch(`${stack.baseURL}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    text,
    json: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as ErrorBody,
  };
}

async function get(path: string) {
  const res = await fetch(`${stack.baseURL}${path}`, { headers: { authorization: `Bearer ${caller.key}` } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

function frames(text: string): Frame[] {
  const out: Frame[] = [];
  for (const block of text.split('\n\n')) {
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data) out.push(JSON.parse(data) as Frame);
  }
  return out;
}

/** A streamed create read to its end. */
async function stream(
  fields: Record<string, unknown>,
): Promise<{ status: number; frames: Frame[]; text: string }> {
  const res = await post('/responses', { ...fields, stream: true });
  return { status: res.status, frames: res.status === 200 ? frames(res.text) : [], text: res.text };
}

/** Exactly one `error` frame, and it is the last one. */
function expectOneErrorLast(list: Frame[]): Frame {
  const errors = list.filter((f) => f.type === 'error');
  expect(errors).toHaveLength(1);
  return errors[0]!;
}

/** `sequence_number`s from 0 without a gap, the gateway's own closing `error` frame included. */
function expectContiguous(list: Frame[]): void {
  expect(list.map((f) => f.sequence_number)).toEqual(list.map((_, i) => i));
}

interface JobView {
  id: string;
  status: string;
  error: { code: string; message: string } | null;
}

async function jobOf(id: string): Promise<JobView | undefined> {
  const res = await get('/jobs?limit=100');
  return (JSON.parse(res.text) as { data: JobView[] }).data.find((j) => j.id === id);
}

const TERMINAL = ['completed', 'failed', 'cancelled', 'incomplete', 'expired'];

async function finalJob(id: string): Promise<JobView> {
  return waitFor(
    `job ${id} terminal`,
    async () => {
      const job = await jobOf(id);
      return job && TERMINAL.includes(job.status) ? job : undefined;
    },
    30_000,
    logs,
  );
}

function webhookFor(id: string): Promise<Delivery['event']> {
  return waitFor(
    `the webhook for ${id}`,
    () => Promise.resolve(deliveries.find((d) => d.event.data.id === id)?.event),
    30_000,
    logs,
  );
}

describe('refusals before anything is created', () => {
  it('validation 400: passed through with its status, type, param and code, for JSON and stream creates', async () => {
    const since = await mark();
    const r = await post('/responses', body({ input: 'x', temperature: 5 }));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'temperature',
      code: 'decimal_above_max_value',
    });
    const s = await post('/responses', body({ input: 'x', include: ['bogus.value'], stream: true }));
    expect(s.status).toBe(400);
    expect(s.headers.get('content-type')).toContain('application/json');
    expect(s.json.error).toMatchObject({ param: 'include[0]', code: 'invalid_value' });
    // The bodies went upstream as sent (the refusal is Azure's to make), once each: a 400 is not retried.
    const sent = await sentUpstream(since);
    expect(sent.map((q) => q.status)).toEqual([400, 400]);
    expect(sent[0]!.body).toMatchObject({ model: 'gpt-4.1', temperature: 5 });
    expect(sent[1]!.body).toMatchObject({ include: ['bogus.value'], stream: true });
  });

  it('401/403 toward Azure: 502 upstream_auth_failed, without the upstream details', async () => {
    const broken = await startStack({ settings: { AZURE_OPENAI_API_KEY: 'wrong-key' } });
    try {
      const { key } = await broken.newCaller('auth');
      const res = await fetch(`${broken.baseURL}/responses`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4.1', input: 'x', stream: true }),
      });
      const answer = (await res.json()) as ErrorBody;
      expect(res.status).toBe(502);
      expect(answer.error).toMatchObject({
        type: 'upstream_error',
        code: 'upstream_auth_failed',
        param: null,
      });
      expect(JSON.stringify(answer)).not.toContain('wrong-key');
      // One attempt: a rejected credential is not retried.
      const sent = await readEmulatorRequests(broken.emulatorUrl, { method: 'POST', route: '/responses' });
      expect(sent.map((q) => q.status)).toEqual([401]);
    } finally {
      await broken.stop();
    }
  });

  it('404 deployment: 404 deployment_not_found naming the deployment sent', async () => {
    const since = await mark();
    const r = await post('/responses', body({ model: 'missing-deployment', input: 'x' }));
    expect(r.status).toBe(404);
    expect(r.json.error).toMatchObject({ code: 'deployment_not_found', param: 'model' });
    expect(r.json.error.message).toContain('missing-deployment');
    const sent = await sentUpstream(since);
    expect(sent.map((q) => [(q.body as { model: string }).model, q.status])).toEqual([
      ['missing-deployment', 404],
    ]);
  });

  it.each(['408', '504'])(
    '%s timeout before any event: 504 upstream_timeout, the create not retried',
    async (kind) => {
      await stack.fault({ kind, count: 2, route: 'POST /responses' });
      const since = await mark();
      const r = await post('/responses', body({ input: 'x' }));
      expect(r.status).toBe(504);
      expect(r.json.error).toMatchObject({ type: 'upstream_error', code: 'upstream_timeout' });
      const s = await post('/responses', body({ input: 'x', stream: true }));
      expect(s.status).toBe(504);
      expect(s.json.error.code).toBe('upstream_timeout');
      // Without an Idempotency-Key a timed-out create may exist upstream: it is not sent twice.
      expect((await sentUpstream(since)).map((q) => q.status)).toEqual([Number(kind), Number(kind)]);
    },
  );

  it('429 before the stream: retried within bounds, then 429 upstream_rate_limit_error with retry-after', async () => {
    await stack.fault({ kind: '429', count: 3, retryAfterMs: 50, route: 'POST /responses' });
    let since = await mark();
    const r = await post('/responses', body({ input: 'x', stream: true }));
    expect(r.status).toBe(429);
    expect(r.json.error).toMatchObject({ type: 'upstream_rate_limit_error', code: 'rate_limit_exceeded' });
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // 1 attempt + AZURE_OPENAI_MAX_RETRIES (2): nothing was created, so retrying is safe, and bounded.
    expect((await sentUpstream(since)).map((q) => q.status)).toEqual([429, 429, 429]);
    await stack.fault({ kind: '429', count: 1, retryAfterMs: 50, route: 'POST /responses' });
    since = await mark();
    const ok = await stream(body({ input: 'x' }));
    expect(ok.frames.at(-1)?.type).toBe('response.completed');
    expect((await sentUpstream(since)).map((q) => q.status)).toEqual([429, 200]);
  });

  it('5xx: 502 upstream_error; a create is retried only behind an Idempotency-Key', async () => {
    await stack.fault({ kind: '500', count: 1, route: 'POST /responses' });
    let since = await mark();
    const r = await post('/responses', body({ input: 'x' }));
    expect(r.status).toBe(502);
    expect(r.json.error).toMatchObject({ type: 'upstream_error', code: 'upstream_error' });
    expect((await sentUpstream(since)).map((q) => q.status)).toEqual([500]);

    await stack.fault({ kind: '503', count: 1, route: 'POST /responses' });
    since = await mark();
    const k = await post('/responses', body({ input: 'x' }), { 'idempotency-key': `cond-${randomUUID()}` });
    expect(k.status).toBe(200);
    expect((await sentUpstream(since)).map((q) => q.status)).toEqual([503, 200]);
  });

  it('connection refused: 502 upstream_unavailable', async () => {
    const dead = await startStack({ settings: { AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9' } });
    try {
      const { key } = await dead.newCaller('dead');
      for (const streamed of [false, true]) {
        const res = await fetch(`${dead.baseURL}/responses`, {
          method: 'POST',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4.1', input: 'x', stream: streamed }),
        });
        expect(res.status).toBe(502);
        expect(((await res.json()) as ErrorBody).error).toMatchObject({
          type: 'upstream_error',
          code: 'upstream_unavailable',
        });
      }
    } finally {
      await dead.stop();
    }
  });

  it('a request the gateway refuses sends nothing upstream (another caller’s previous_response_id)', async () => {
    const other = await stack.newCaller('conditions-other');
    const theirs = await other.client.responses.create({ model: 'gpt-4.1', input: 'mine' });
    const since = await mark();
    const r = await post('/responses', body({ input: 'continue', previous_response_id: theirs.id }));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
    expect((await post('/responses', body({ model: 'gpt-5-secret', input: 'x' }))).status).toBe(400);
    expect(await readEmulatorRequests(stack.emulatorUrl, { method: 'POST', since })).toEqual([]);
  });

  it('what is sent: the deployment (named or default) and the image-generation header', async () => {
    const since = await mark();
    expect((await post('/responses', { input: 'x' })).status).toBe(200);
    const image = { model: 'gpt-4.1-mini', input: 'a lighthouse', tools: [{ type: 'image_generation' }] };
    expect((await post('/responses', image)).status).toBe(200);
    const [plain, drawn] = await sentUpstream(since);
    expect((plain!.body as { model: string }).model).toBe('gpt-4.1');
    expect(plain!.headers['x-ms-oai-image-generation-deployment']).toBeUndefined();
    expect((drawn!.body as { model: string }).model).toBe('gpt-4.1-mini');
    expect(drawn!.headers['x-ms-oai-image-generation-deployment']).toBe('gpt-image-1');
  });
});

describe('content filtering', () => {
  it('filtered prompt: 400 content_filter carrying innererror.content_filter_result; nothing recorded', async () => {
    const jobsBefore = (JSON.parse((await get('/jobs?limit=100')).text) as { data: unknown[] }).data.length;
    const since = await mark();
    const r = await post('/responses', body({ input: 'Tell me about emulator-filter-prompt.' }));
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({
      type: 'invalid_request_error',
      param: 'prompt',
      code: 'content_filter',
      innererror: {
        code: 'ResponsibleAIPolicyViolation',
        content_filter_result: { violence: { filtered: true, severity: 'medium' } },
      },
    });
    // The official SDK raises its usual class, with the filter result on it.
    const err = (await caller.client.responses
      .create({ model: 'gpt-4.1', input: 'emulator-filter-prompt', stream: true })
      .catch((e: unknown) => e)) as InstanceType<typeof OpenAI.BadRequestError>;
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.code).toBe('content_filter');
    expect((err.error as { innererror?: unknown }).innererror).toMatchObject({
      content_filter_result: { violence: { filtered: true } },
    });
    // A filtered background create makes no job.
    const bg = await post('/responses', body({ input: 'emulator-filter-prompt', background: true }));
    expect(bg.status).toBe(400);
    expect(bg.json.error.code).toBe('content_filter');
    expect((await sentUpstream(since)).map((q) => q.status)).toEqual([400, 400, 400]);
    const jobsAfter = (JSON.parse((await get('/jobs?limit=100')).text) as { data: unknown[] }).data.length;
    expect(jobsAfter).toBe(jobsBefore);
  });

  it('filtered completion: status incomplete (content_filter), as JSON, as a stream, and as a job', async () => {
    const sync = await post('/responses', body({ input: 'Please say emulator-filter-completion.' }));
    expect(sync.status).toBe(200);
    expect(sync.json).toMatchObject({
      status: 'incomplete',
      incomplete_details: { reason: 'content_filter' },
    });

    const s = await stream(body({ input: 'Please say emulator-filter-completion.' }));
    expect(s.frames.filter((f) => f.type === 'error')).toEqual([]);
    expect(s.frames.at(-1)).toMatchObject({
      type: 'response.incomplete',
      response: { status: 'incomplete', incomplete_details: { reason: 'content_filter' } },
    });

    const bg = await post('/responses', body({ input: 'emulator-filter-completion', background: true }));
    const id = (bg.json as unknown as { id: string }).id;
    const job = await finalJob(id);
    expect(job).toMatchObject({ status: 'incomplete', error: { code: 'content_filter' } });
    const event = await webhookFor(id);
    expect(event).toMatchObject({
      type: 'response.incomplete',
      data: { status: 'incomplete', error: { code: 'content_filter' } },
    });
  });
});

describe('failures inside a stream', () => {
  it('in-stream error then response.failed: one error frame, as sent, then response.failed; no resume advice', async () => {
    await stack.fault({ kind: 'stream_error', afterEvents: 3, code: 'rate_limit_exceeded', count: 1 });
    const s = await stream(body({ input: 'a stream that fails' }));
    expect(s.status).toBe(200);
    const errors = s.frames.filter((f) => f.type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('rate_limit_exceeded');
    expect(s.frames.at(-1)).toMatchObject({
      type: 'response.failed',
      response: { status: 'failed', error: { code: 'rate_limit_exceeded' } },
    });
    expect(s.text).not.toContain('stream_interrupted');
    expectContiguous(s.frames);
    // The foreground response is stored upstream as failed; the caller can read it so.
    const id = s.frames[0]!.response!.id;
    expect(JSON.parse((await get(`/responses/${id}`)).text)).toMatchObject({ status: 'failed' });
  });

  it('in-stream error alone (terminal: false): the error frame is the last, relayed once', async () => {
    await stack.fault({ kind: 'stream_error', afterEvents: 4, terminal: false, count: 1 });
    const s = await stream(body({ input: 'a stream that stops' }));
    const error = expectOneErrorLast(s.frames);
    expect(s.frames.at(-1)).toBe(error);
    expect(error.code).toBe('server_error');
    expect(s.text).not.toContain('stream_interrupted');
    expectContiguous(s.frames);
  });

  it('in-stream error alone on a background stream: the job is finalized failed with its error', async () => {
    await stack.fault({ kind: 'stream_error', afterEvents: 4, terminal: false, count: 1 });
    const s = await stream(body({ input: 'a background stream that stops', background: true }));
    expect(s.frames.at(-1)).toMatchObject({ type: 'error', code: 'server_error' });
    const id = s.frames[0]!.response!.id;
    expect(await finalJob(id)).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(await webhookFor(id)).toMatchObject({
      type: 'response.failed',
      data: { status: 'failed', error: { code: 'server_error' } },
    });
  });

  it.each([false, true])(
    'stream cut, foreground (socket dropped: %s): stream_interrupted without resume advice; cancelled upstream',
    async (abort) => {
      await stack.fault({ kind: 'stream_cut', afterEvents: 5, abort, count: 1 });
      const s = await stream(body({ input: 'a foreground stream that is cut' }));
      expect(s.frames).toHaveLength(6);
      const error = expectOneErrorLast(s.frames);
      expect(s.frames.at(-1)).toBe(error);
      expect(error.code).toBe('stream_interrupted');
      expect(error.message).toContain('Only background responses can be resumed');
      expect(error.message).not.toContain('starting_after');
      expectContiguous(s.frames);
      const id = s.frames[0]!.response!.id;
      expect(JSON.parse((await get(`/responses/${id}`)).text)).toMatchObject({ status: 'cancelled' });
      // And indeed it cannot be resumed: upstream refuses, and the refusal reaches the caller as such.
      const resumed = await get(`/responses/${id}?stream=true&starting_after=2`);
      expect(resumed.status).toBe(400);
      expect(stack.hostLogs()).not.toMatch(/unexpected error/);
    },
  );

  it.each([false, true])(
    'stream cut, background (socket dropped: %s): stream_interrupted with resume advice that works; job completes',
    async (abort) => {
      await stack.fault({ kind: 'stream_cut', afterEvents: 5, abort, count: 1 });
      const s = await stream(body({ input: 'a background stream that is cut', background: true }));
      const error = expectOneErrorLast(s.frames);
      expect(error.code).toBe('stream_interrupted');
      expect(error.message).toContain('starting_after');
      const id = s.frames[0]!.response!.id;
      const last = s.frames.at(-2)!.sequence_number!;
      const resumed = await get(`/responses/${id}?stream=true&starting_after=${last}`);
      expect(resumed.status).toBe(200);
      const rest = frames(resumed.text);
      expect(rest[0]!.sequence_number).toBe(last + 1);
      expect(rest.at(-1)).toMatchObject({ type: 'response.completed' });
      expect(await finalJob(id)).toMatchObject({ status: 'completed', error: null });
      expect((await webhookFor(id)).type).toBe('response.completed');
    },
  );
});

/** Opens a stream and leaves after `response.created`; returns the caller's response id. */
async function abandon(body: Record<string, unknown>): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(`${stack.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true }),
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
  }
  controller.abort();
  return frames(text.slice(0, text.indexOf('\n\n') + 2))[0]!.response!.id;
}

describe('callers that leave', () => {
  it('abandoned foreground stream: cancelled upstream', async () => {
    const before = (await stack.emulatorStats()).streamDisconnects;
    const id = await abandon(
      body({ input: 'a long answer nobody reads', metadata: { emulator_duration_ms: '4000' } }),
    );
    await waitFor('the upstream stream to be closed', async () =>
      (await stack.emulatorStats()).streamDisconnects > before ? true : undefined,
    );
    const upstream = openForCaller(`key:${caller.name}`, id)!;
    expect((await stack.direct.responses.retrieve(upstream)).status).toBe('cancelled');
    expect(JSON.parse((await get(`/responses/${id}`)).text)).toMatchObject({ status: 'cancelled' });
  });

  it('abandoned background stream: keeps running, resumable, job completes with its webhook', async () => {
    const id = await abandon(
      body({
        input: 'a background answer read later',
        background: true,
        metadata: { emulator_duration_ms: '1500' },
      }),
    );
    const resumed = await get(`/responses/${id}?stream=true&starting_after=0`);
    expect(frames(resumed.text).at(-1)).toMatchObject({ type: 'response.completed' });
    expect(await finalJob(id)).toMatchObject({ status: 'completed' });
    expect((await webhookFor(id)).type).toBe('response.completed');
  });
});

describe('background jobs', () => {
  it('a job failing mid-way is finalized failed with its error, and says so everywhere', async () => {
    await stack.fault({ kind: 'stream_error', afterEvents: 4, count: 1 });
    const created = await post('/responses', body({ input: 'a job that fails half-way', background: true }));
    expect(created.status).toBe(200);
    const id = (created.json as unknown as { id: string }).id;
    expect(await finalJob(id)).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    const retrieved = JSON.parse((await get(`/responses/${id}`)).text) as {
      status: string;
      error: { code: string };
    };
    expect(retrieved).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(await webhookFor(id)).toMatchObject({
      type: 'response.failed',
      data: { status: 'failed', error: { code: 'server_error' } },
    });
  });
});

describe('document summaries', () => {
  async function upload(pdf: Buffer, filename: string) {
    const res = await fetch(`${stack.baseURL}/documents?filename=${encodeURIComponent(filename)}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/pdf' },
      body: pdf,
    });
    expect(res.status).toBe(202);
    return (await res.json()) as { id: string; blob: string };
  }

  async function settled(id: string) {
    return waitFor(
      `document ${id}`,
      async () => {
        const doc = JSON.parse((await get(`/documents/${id}`)).text) as {
          status: string;
          error: { code: string; message: string } | null;
          summary_blob: string | null;
          response_id: string | null;
        };
        return ['completed', 'failed', 'rejected'].includes(doc.status) ? doc : undefined;
      },
      30_000,
      logs,
    );
  }

  async function recordOf(blob: string): Promise<SummaryRecord> {
    const name = blob.replace(/^documents\//, '').replace(/\.pdf$/, '.json');
    return JSON.parse(
      (await summaries.getBlockBlobClient(name).downloadToBuffer()).toString('utf8'),
    ) as SummaryRecord;
  }

  it('filtered summary (completion): failed with content_filter in the document, its record and webhook', async () => {
    const pdf = await makePdf(['The emulator-filter-completion clause is confidential.', 'More text.']);
    const doc = await upload(pdf, 'filtered.pdf');
    const done = await settled(doc.id);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'content_filter' }, summary_blob: null });
    expect(await recordOf(doc.blob)).toMatchObject({
      status: 'failed',
      error: { code: 'content_filter' },
      summary_blob: null,
    });
    expect(await webhookFor(doc.id)).toMatchObject({
      type: 'document.failed',
      data: { status: 'failed', error: { code: 'content_filter' } },
    });
  });

  it('summary failing mid-way: failed with the response’s error in the document, its record and webhook', async () => {
    // The summary's background create is the next create: it fails after a few events.
    await stack.fault({ kind: 'stream_error', afterEvents: 4, count: 1 });
    const doc = await upload(await makePdf(['A page whose summary breaks.']), 'breaks.pdf');
    const done = await settled(doc.id);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'server_error' }, summary_blob: null });
    expect(await recordOf(doc.blob)).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(await webhookFor(doc.id)).toMatchObject({
      type: 'document.failed',
      data: { status: 'failed', error: { code: 'server_error' } },
    });
  });

  it('filtered summary (prompt): failed with content_filter before any job', async () => {
    const doc = await upload(await makePdf(['An ordinary page.']), 'emulator-filter-prompt.pdf');
    const done = await settled(doc.id);
    expect(done).toMatchObject({ status: 'failed', error: { code: 'content_filter' }, response_id: null });
    expect(await recordOf(doc.blob)).toMatchObject({
      status: 'failed',
      error: { code: 'content_filter' },
      response_id: null,
    });
    expect(await webhookFor(doc.id)).toMatchObject({
      type: 'document.failed',
      data: { status: 'failed', error: { code: 'content_filter' } },
    });
  });
});
