import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { RegisteredFunction } from './core-api';
import type { RpcTypedData } from './core-types';
import { bindingString, triggerOf } from './invoke';
import { describeError, type Logger } from './logger';
import { parseBlobPath, type BlobClients } from './blob-storage';
import { setTimeout as sleep } from 'node:timers/promises';

/** Path of the blob extension's webhook in the Functions host (`/runtime/webhooks/blobs?functionName=Host.Functions.<name>`). */
export const BLOB_WEBHOOK_PATH = '/runtime/webhooks/blobs';

/** The blob extension moves a blob to poison after this many failed attempts (`maxDequeueCount`, default 5). */
export const MAX_ATTEMPTS = 5;

export interface BlobEventContext {
  functions: Map<string, RegisteredFunction>;
  clients: BlobClients;
  logger: Logger;
  /** Runs the function once with the given input; rejects with what the handler threw. */
  invoke(
    fn: RegisteredFunction,
    inputData: RpcTypedData,
    triggerMetadata: Record<string, RpcTypedData>,
  ): Promise<unknown>;
  retryDelayMs: number;
  /** Deliveries still running; the host waits for them on close. */
  pending: Set<Promise<void>>;
}

interface EventGridLikeEvent {
  type?: string;
  eventType?: string;
  subject?: string;
  data?: { url?: string; validationCode?: string; [k: string]: unknown };
}

/** Container and blob name of a BlobCreated event: from `subject`, else from `data.url`. */
export function blobOfEvent(event: EventGridLikeEvent): { container: string; name: string } | undefined {
  const m = /^\/blobServices\/default\/containers\/([^/]+)\/blobs\/(.+)$/.exec(event.subject ?? '');
  if (m) return { container: m[1]!, name: m[2]! };
  if (typeof event.data?.url === 'string') {
    const url = new URL(event.data.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    // Azurite and other path-style endpoints put the account first (`/devstoreaccount1/container/blob`).
    const pathStyle =
      /^(127\.0\.0\.1|localhost|\[::1\])$/.test(url.hostname) || /^\d+\.\d+\.\d+\.\d+$/.test(url.hostname);
    const rest = pathStyle ? parts.slice(1) : parts;
    if (rest.length >= 2) return { container: rest[0]!, name: rest.slice(1).join('/') };
  }
  return undefined;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('error', reject);
    req.once('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status, { 'content-length': '0' }).end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
  });
  res.end(text);
}

/**
 * The blob's bytes in one Buffer, as the host hands them to the worker. With a known length the chunks are
 * copied into a Buffer of that size as they arrive (one copy of the blob in memory, not the chunks plus their
 * concatenation); otherwise, or if the body turns out longer or shorter than announced, they are concatenated.
 */
export async function readBlobBody(stream: Readable | undefined, contentLength?: number): Promise<Buffer> {
  if (!stream) return Buffer.alloc(0);
  if (contentLength === undefined || !Number.isSafeInteger(contentLength) || contentLength < 0) {
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  // Uninitialized is safe: only the `filled` bytes written below are ever handed out.
  const bytes = Buffer.allocUnsafe(contentLength);
  let filled = 0;
  const extra: Buffer[] = [];
  for await (const c of stream) {
    const chunk = c as Buffer;
    const fits = Math.min(chunk.byteLength, contentLength - filled);
    chunk.copy(bytes, filled, 0, fits);
    filled += fits;
    if (fits < chunk.byteLength) extra.push(chunk.subarray(fits));
  }
  if (extra.length > 0) return Buffer.concat([bytes, ...extra]);
  return filled === contentLength ? bytes : bytes.subarray(0, filled);
}

class BlobGoneError extends Error {}

/**
 * Reads the blob and runs the function once with the blob's bytes and the trigger metadata the host provides:
 * `BlobTrigger` ("container/name"), `Uri`, `Properties`, `Metadata` and the path pattern's `{...}` values
 * (the library camel-cases them: `blobTrigger`, `uri`, `properties.eTag`, ...).
 */
export async function runBlobFunction(
  ctx: BlobEventContext,
  fn: RegisteredFunction,
  container: string,
  name: string,
  values: Record<string, string>,
): Promise<void> {
  const { binding } = triggerOf(fn);
  const service = ctx.clients.get(bindingString(binding, 'connection', 'AzureWebJobsStorage'));
  const blob = service.getContainerClient(container).getBlobClient(name);
  let download;
  try {
    download = await blob.download();
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404)
      throw new BlobGoneError(`Blob ${container}/${name} no longer exists.`);
    throw err;
  }
  const bytes = await readBlobBody(
    download.readableStreamBody as Readable | undefined,
    download.contentLength,
  );
  const properties = {
    LastModified: download.lastModified?.toISOString(),
    CreatedOn: download.createdOn?.toISOString(),
    BlobType:
      download.blobType === 'BlockBlob'
        ? 'Block'
        : download.blobType === 'PageBlob'
          ? 'Page'
          : download.blobType === 'AppendBlob'
            ? 'Append'
            : download.blobType,
    ContentLength: download.contentLength,
    ContentType: download.contentType,
    ContentEncoding: download.contentEncoding,
    ContentLanguage: download.contentLanguage,
    ContentDisposition: download.contentDisposition,
    CacheControl: download.cacheControl,
    ContentHash: download.contentMD5 ? Buffer.from(download.contentMD5).toString('base64') : undefined,
    ETag: download.etag,
    LeaseState: download.leaseState,
    LeaseStatus: download.leaseStatus,
    Metadata: download.metadata ?? {},
  };
  const triggerMetadata: Record<string, RpcTypedData> = {};
  for (const [k, v] of Object.entries(values)) triggerMetadata[k] = { string: v };
  triggerMetadata.BlobTrigger = { string: `${container}/${name}` };
  triggerMetadata.Uri = { string: blob.url };
  triggerMetadata.Properties = { json: JSON.stringify(properties) };
  triggerMetadata.Metadata = { json: JSON.stringify(download.metadata ?? {}) };
  await ctx.invoke(fn, { bytes }, triggerMetadata);
}

/**
 * Delivers one blob to one function the way the blob extension does with its internal queue: up to
 * MAX_ATTEMPTS tries `retryDelayMs` apart, then the blob is reported as poison. A blob that is gone is skipped.
 */
async function deliver(
  ctx: BlobEventContext,
  fn: RegisteredFunction,
  container: string,
  name: string,
  values: Record<string, string>,
): Promise<void> {
  const fnName = fn.metadata.name;
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    try {
      await runBlobFunction(ctx, fn, container, name, values);
      return;
    } catch (err) {
      if (err instanceof BlobGoneError) {
        ctx.logger.fn(fnName, 'warning', `${err.message} Skipping.`);
        return;
      }
      if (attempt === MAX_ATTEMPTS) {
        ctx.logger.fn(
          fnName,
          'error',
          `Poison blob: ${container}/${name} failed ${MAX_ATTEMPTS} times and will not be retried ` +
            `(the real host moves it to the 'webjobs-blobtrigger-poison' queue). Last error: ${describeError(err)}`,
        );
        return;
      }
      ctx.logger.fn(
        fnName,
        'warning',
        `Blob ${container}/${name} failed (attempt ${attempt} of ${MAX_ATTEMPTS}); retrying.`,
      );
      await sleep(ctx.retryDelayMs);
    }
  }
}

/**
 * `POST /runtime/webhooks/blobs?functionName=Host.Functions.<name>`: Event Grid (or CloudEvents) BlobCreated
 * notifications, a single event or an array. Answers the `SubscriptionValidation` handshake (and the CloudEvents
 * `OPTIONS` one), 202 for notifications, and processes matching blobs after answering, as the host queues them.
 */
export async function handleBlobWebhook(
  ctx: BlobEventContext,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const requested = url.searchParams.get('functionName') ?? '';
  const fnName = requested.startsWith('Host.Functions.')
    ? requested.slice('Host.Functions.'.length)
    : requested;
  const fn = ctx.functions.get(fnName);
  if (!fn || !/^blobtrigger$/i.test(String(triggerOf(fn).binding.type))) {
    send(
      res,
      404,
      `No blob-triggered function named "${fnName}" (functionName=Host.Functions.<name>, case-sensitive).`,
    );
    return;
  }
  if (req.method === 'OPTIONS') {
    const origin = req.headers['webhook-request-origin'];
    res
      .writeHead(200, {
        'WebHook-Allowed-Origin': typeof origin === 'string' ? origin : '*',
        'WebHook-Allowed-Rate': '*',
      })
      .end();
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405);
    return;
  }
  let body: unknown;
  try {
    body = await readJson(req);
  } catch {
    send(res, 400, 'The request body is not JSON.');
    return;
  }
  const events = (Array.isArray(body) ? body : [body]) as EventGridLikeEvent[];
  const eventType = req.headers['aeg-event-type'];
  if (eventType === 'SubscriptionValidation') {
    const code = events.find((e) => typeof e?.data?.validationCode === 'string')?.data?.validationCode;
    if (!code) send(res, 400, 'SubscriptionValidation without data.validationCode.');
    else send(res, 200, { validationResponse: code });
    return;
  }

  const pattern = parseBlobPath(bindingString(triggerOf(fn).binding, 'path'));
  let accepted = 0;
  const mine: Promise<void>[] = [];
  for (const event of events) {
    const type = event?.type ?? event?.eventType;
    if (type !== 'Microsoft.Storage.BlobCreated') continue;
    const blob = blobOfEvent(event);
    if (!blob || blob.container !== pattern.container) continue;
    const values = pattern.match(blob.name);
    if (!values) continue;
    accepted++;
    const p = deliver(ctx, fn, blob.container, blob.name, values).finally(() => ctx.pending.delete(p));
    ctx.pending.add(p);
    mine.push(p);
  }
  ctx.logger.host(
    'information',
    `Blob webhook for ${fnName}: ${events.length} event(s), ${accepted} matching.`,
  );
  if (req.headers[WAIT_HEADER] === 'true') {
    // The local watcher marks a blob as seen only once its function ran (or was given up on as poison), so a
    // host killed mid-run delivers it again after a restart, as the real host's durable queue would.
    await Promise.all(mine);
    send(res, 200);
    return;
  }
  send(res, 202);
}

/** Local-only header: answer after the matching deliveries finished instead of at once. */
export const WAIT_HEADER = 'x-local-host-wait-for-completion';
