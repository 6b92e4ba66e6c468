/**
 * Handler-level tests: one route's registered handler called in process with a real `HttpRequest` and
 * `InvocationContext`, against the run's Azurite and the Responses API emulator (reached by the app's own `openai`
 * client). No host and no HTTP in front: what the handler answers is what the host would send.
 *
 * Every import from `shared/` that these tests need is in this file.
 */
import { randomUUID } from 'node:crypto';
import {
  HttpRequest,
  InvocationContext,
  type HttpResponseInit,
  type InvocationContextInit,
} from '@azure/functions';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from '../integration/support/jobs-env';
import { createKey } from '../../shared/callers/keys';
import { resetConfigForTests } from '../../shared/platform/config';
import { useDocumentStorageForTests } from '../../shared/documents/names';
import { registerWebhook } from '../../shared/webhooks/registration';
import { openForCaller } from '../../shared/platform/caller-ids';
import { queue } from '../../shared/platform/storage';
import { storageNames } from '../../shared/platform/storage-names';
import { httpFunction, queueFunction } from './registry';

export { uniqueSuffix, until } from '../integration/support/jobs-env';
export { runPollerTick } from '../../shared/jobs';

/** The upstream id behind an id `caller` was handed (callers hold sealed ids; upstream events name raw ones). */
export const upstreamIdOf = (caller: { name: string }, id: string): string => {
  const upstream = openForCaller(`key:${caller.name}`, id);
  if (!upstream) throw new Error(`${id} is not an id of ${caller.name}`);
  return upstream;
};

export interface TestCaller {
  name: string;
  key: string;
}

export interface HandlerEnv {
  /** The emulator, the test's own job tables and fault injection (see tests/integration/support/jobs-env.ts). */
  jobs: JobsEnv;
  /** Container of the test's uploaded documents. */
  documentsContainer: string;
  /** A new caller with a real gateway key in the `callers` table. */
  newCaller(prefix?: string): Promise<TestCaller>;
  /** Registers `caller`'s webhook receiver; returns the signing secret. */
  registerWebhook(caller: TestCaller, url: string): Promise<string>;
  /** Changes settings for the rest of the file (the configuration is read again on next use). */
  setSettings(settings: Record<string, string>): void;
  close(): Promise<void>;
}

/**
 * Sets the app's settings (storage, emulator endpoint, deployments) before anything reads the configuration,
 * and points jobs, webhooks, idempotency records and documents at tables and containers of this test file's own.
 */
export async function startHandlerEnv(
  options: {
    settings?: Record<string, string>;
    emulator?: NonNullable<Parameters<typeof startJobsEnv>[0]>['emulator'];
  } = {},
): Promise<HandlerEnv> {
  const jobs = await startJobsEnv({
    emulator: { streamEventDelayMs: 2, ...options.emulator },
    env: {
      AZURE_OPENAI_ALLOWED_DEPLOYMENTS: 'gpt-4.1,gpt-4.1-mini,o4-mini',
      DOCUMENT_MAX_BYTES: String(1024 * 1024),
      ...options.settings,
    },
  });
  const suffix = uniqueSuffix();
  const documentsContainer = `hdocs-${suffix}`;
  useDocumentStorageForTests({
    documents: documentsContainer,
    summaries: `hsum-${suffix}`,
    table: `hdocs${suffix}`,
  });
  return {
    jobs,
    documentsContainer,
    async newCaller(prefix = 'caller') {
      const name = `${prefix}-${uniqueSuffix()}`;
      return { name, key: await createKey(name) };
    },
    async registerWebhook(caller, url) {
      return (await registerWebhook(caller.name, url)).secret;
    },
    setSettings(settings) {
      Object.assign(process.env, settings);
      resetConfigForTests();
    },
    async close() {
      useDocumentStorageForTests();
      await jobs.close();
    },
  };
}

export interface CallInit {
  method?: string;
  /** Route parameters, e.g. `{ id }` for `v1/responses/{id}`. */
  params?: Record<string, string>;
  /** Query string without the `?`, e.g. `limit=2&order=asc`. */
  query?: string;
  /** Sent as `Authorization: Bearer <key>`; null sends no credential. */
  key?: string | null;
  headers?: Record<string, string>;
  /** A JSON body (serialized here) ... */
  json?: unknown;
  /** ... or raw bytes / text. */
  body?: Uint8Array | string;
}

export interface Answer {
  status: number;
  headers: Headers;
  /** The whole body (a streamed body is read to its end). */
  bytes: Buffer;
  text: string;
  /** The body parsed as JSON (throws when it is not JSON). */
  json<T = Record<string, unknown>>(): T;
  /** What the handler logged through its invocation context. */
  logs: string[];
}

async function bodyBytes(answer: HttpResponseInit): Promise<Buffer> {
  if (answer.jsonBody !== undefined) return Buffer.from(JSON.stringify(answer.jsonBody));
  const body = answer.body;
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  if (typeof (body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  throw new Error(`The test does not read bodies of type ${Object.prototype.toString.call(body)}`);
}

/**
 * Runs the poll queue as the host's queue trigger would: every visible message of the test's poll queue is
 * decoded (base64 JSON, the trigger's default) and handed to `poll-background-queue`, then deleted. Returns how
 * many messages ran.
 */
export async function runPollQueue(): Promise<number> {
  const client = await queue(storageNames().pollQueue);
  const handler = queueFunction('poll-background-queue').handler;
  let ran = 0;
  for (;;) {
    const batch = await client.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (batch.receivedMessageItems.length === 0) return ran;
    for (const m of batch.receivedMessageItems) {
      const body: unknown = JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8'));
      await handler(body, invocationContext('poll-background-queue', [], { dequeueCount: m.dequeueCount }));
      await client.deleteMessage(m.messageId, m.popReceipt);
      ran++;
    }
  }
}

/** An `InvocationContext` that keeps what the handler logs. */
export function invocationContext(
  functionName: string,
  logs: string[] = [],
  triggerMetadata?: Record<string, unknown>,
): InvocationContext {
  const init: InvocationContextInit = {
    functionName,
    invocationId: randomUUID(),
    triggerMetadata,
    logHandler: (level, ...args) => void logs.push(`${level}: ${args.map(String).join(' ')}`),
  };
  return new InvocationContext(init);
}

/**
 * Calls the handler registered as `name` the way the host would for a request to its route: the URL is the
 * route template with `params` filled in under the `api/` prefix (host.json), the method must be one the
 * registration accepts.
 */
export async function call(name: string, init: CallInit = {}): Promise<Answer> {
  const registration = httpFunction(name);
  const methods = registration.methods ?? ['GET', 'POST'];
  const method = init.method ?? methods[0]!;
  if (!methods.includes(method as (typeof methods)[number])) {
    throw new Error(
      `${name} is registered for ${methods.join(', ')}, not ${method}: the host would answer 404.`,
    );
  }
  const params = init.params ?? {};
  const path = (registration.route ?? name).replace(/\{(\w+)\??\}/g, (_, p: string) => {
    const value = params[p];
    if (value === undefined) throw new Error(`${name} needs the route parameter '${p}'.`);
    return encodeURIComponent(value);
  });
  const headers: Record<string, string> = { ...init.headers };
  if (init.key !== null && init.key !== undefined) headers.authorization = `Bearer ${init.key}`;
  let body: { bytes: Uint8Array } | { string: string } | undefined;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = { string: JSON.stringify(init.json) };
  } else if (typeof init.body === 'string') body = { string: init.body };
  else if (init.body) body = { bytes: init.body };
  const request = new HttpRequest({
    method,
    url: `http://localhost/api/${path}${init.query ? `?${init.query}` : ''}`,
    headers,
    params,
    body,
  });
  const logs: string[] = [];
  const result = await registration.handler(request, invocationContext(name, logs));
  const answer = (result ?? {}) as HttpResponseInit;
  const bytes = await bodyBytes(answer);
  const text = bytes.toString('utf8');
  return {
    status: answer.status ?? 200,
    headers: new Headers(answer.headers),
    bytes,
    text,
    json: <T>() => JSON.parse(text) as T,
    logs,
  };
}

/** The OpenAI error shape every failure must have; returns the `error` object for further checks. */
export function openAIError(answer: Answer): {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
} {
  const body = answer.json<{
    error: { message: string; type: string; param: string | null; code: string | null };
  }>();
  if (!body.error || typeof body.error.message !== 'string' || !body.error.message) {
    throw new Error(`Not an OpenAI-shaped error (status ${answer.status}): ${answer.text}`);
  }
  for (const field of ['type', 'param', 'code'] as const) {
    if (!(field in body.error)) throw new Error(`The error has no '${field}': ${answer.text}`);
  }
  if (answer.headers.get('content-type') !== 'application/json') {
    throw new Error(`An error answered with content-type ${answer.headers.get('content-type')}`);
  }
  return body.error;
}

/** Splits a `text/event-stream` body into its events' JSON payloads. */
export function sseEvents(text: string): { type: string; sequence_number?: number; [k: string]: unknown }[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      return JSON.parse(data) as { type: string; sequence_number?: number };
    });
}
