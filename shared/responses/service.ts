/**
 * The Responses API as this service offers it: the caller's request goes to Azure OpenAI as sent, plus what
 * the service owns (default and allowed deployments, the image-generation header, document references,
 * ownership, background tracking, stored images).
 */
import type { InvocationContext } from '@azure/functions';
import type {
  Response,
  ResponseCreateParams,
  ResponseStreamEvent,
  ResponseIncludable,
} from 'openai/resources/responses/responses';
import type { ResponseItemList } from 'openai/resources/responses/input-items';
import type { Caller } from '../callers/auth';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { ApiError, badRequest, fromUpstream, isUpstreamError, isUserAbort } from '../platform/errors';
import { deleteImages, storeImages } from '../files/images';
import { assertFilesOwned } from '../files/service';
import { retryOn429 } from '../platform/retry';
import { assertOwned, forgetOwnership, recordOwnership, responseNotFound } from '../callers/ownership';
import { deleteUploadedFiles, resolveDocumentRefs } from './documents-ref';
import { previousResponseId, resolveModel, validateCreate, type CreateFields } from './validate';
import { deleteJob, recordCancel, terminalResponseFromJob, trackBackgroundJob } from '../jobs';
import { resolveWebhookTarget } from '../webhooks/registration';
import {
  abandonIdempotent,
  beginIdempotent,
  completeIdempotent,
  hashRequestBody,
  validateIdempotencyKey,
} from '../idempotency/keys';

type Body = Record<string, unknown>;

export interface CreateContext {
  caller: Caller;
  context: InvocationContext;
  /** Fires when the caller disconnects; aborts the upstream request. */
  signal: AbortSignal;
  /** Validated `X-Webhook-Url` for a background create, if any. */
  webhookUrl?: string;
  /** Set when the request carried an Idempotency-Key: only then may the backend retry a create itself. */
  idempotent?: boolean;
}

export interface PreparedCreate {
  fields: CreateFields;
  body: Body;
  headers: Record<string, string>;
  uploadedFileIds: string[];
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'incomplete', 'expired']);

/** Validates and completes a create body (in place): model default, ownership of the chain, tool headers, documents. */
export async function prepareCreate(caller: Caller, body: Body): Promise<PreparedCreate> {
  const fields = validateCreate(body);
  body.model = fields.model;
  if (fields.previousResponseId) await assertOwned(caller, fields.previousResponseId, 'previous_response_id');
  await assertFilesOwned(caller, body);
  const headers: Record<string, string> = {};
  if (fields.tools.some((t) => t.type === 'image_generation')) {
    // Azure needs the image deployment named in a header (see the how-to's image generation section).
    headers['x-ms-oai-image-generation-deployment'] = getConfig().imageDeployment;
  }
  const uploadedFileIds = await resolveDocumentRefs(caller, body);
  return { fields, body, headers, uploadedFileIds };
}

/**
 * The SDK retries 429/5xx on its own. A 429 means nothing was created, so retrying it is always safe; a 5xx
 * or timeout may hide a created response, so a create is retried on those only behind an Idempotency-Key.
 */
async function upstreamCreate<T>(
  deployment: string,
  run: (maxRetries: number) => Promise<T>,
  idempotent: boolean,
): Promise<T> {
  if (idempotent) return withDeployment(deployment, () => run(getConfig().openaiMaxRetries));
  return withDeployment(deployment, () => retryOn429(() => run(0)));
}

/** Upstream errors named with the deployment they concern (a 404 DeploymentNotFound says which one). */
async function withDeployment<T>(deployment: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw isUpstreamError(e) && e.status !== undefined ? fromUpstream(e, deployment) : e;
  }
}

function logResponse(
  ctx: InvocationContext,
  what: string,
  caller: Caller,
  fields: { id?: string; deployment?: string; status?: string; started: number; usage?: Response['usage'] },
): void {
  // Identifiers and numbers only: never prompt text, file contents, keys or tokens.
  ctx.log(
    JSON.stringify({
      event: what,
      responseId: fields.id,
      caller: caller.id,
      deployment: fields.deployment,
      status: fields.status,
      latencyMs: Date.now() - fields.started,
      inputTokens: fields.usage?.input_tokens,
      outputTokens: fields.usage?.output_tokens,
    }),
  );
}

/** What happens once the service has a response object: it becomes the caller's, and its work is tracked. */
async function adopt(cc: CreateContext, prepared: PreparedCreate, response: Response): Promise<void> {
  const background = prepared.fields.background;
  await recordOwnership(cc.caller, response.id, { deployment: prepared.fields.model, background });
  if (background && !TERMINAL.has(response.status ?? '')) {
    await trackBackgroundJob({
      caller: cc.caller,
      response,
      kind: 'response',
      deployment: prepared.fields.model,
      webhookUrl: cc.webhookUrl,
      uploadedFileIds: prepared.uploadedFileIds,
    });
  }
}

/**
 * The response exists upstream but could not be made the caller's (storage is down): the caller gets the error
 * and never learns the id, so nothing may keep running or stay stored under it. Best effort, and quick: the
 * caller is waiting for the error.
 */
async function discard(cc: CreateContext, prepared: PreparedCreate, response: Response): Promise<void> {
  const options = { maxRetries: 0, timeout: 5_000 };
  const openai = getOpenAI();
  if (prepared.fields.background && !TERMINAL.has(response.status ?? ''))
    await openai.responses.cancel(response.id, options).catch(() => undefined);
  const deleted = await openai.responses.delete(response.id, options).then(
    () => true,
    () => false,
  );
  await forgetOwnership(cc.caller, response.id).catch(() => undefined);
  await deleteUploadedFiles(prepared.uploadedFileIds).catch(() => undefined);
  cc.context.warn(
    JSON.stringify({ event: 'response.discarded', responseId: response.id, caller: cc.caller.id, deleted }),
  );
}

/** After a non-background response ended: its images are kept and its temporary uploads removed. */
async function settle(prepared: PreparedCreate, response: Response): Promise<void> {
  if (TERMINAL.has(response.status ?? '')) await storeImages(response);
  if (!prepared.fields.background) await deleteUploadedFiles(prepared.uploadedFileIds);
}

/** Non-streaming create (synchronous or background). */
export async function createResponse(cc: CreateContext, prepared: PreparedCreate): Promise<Response> {
  const started = Date.now();
  let response: Response;
  try {
    response = await upstreamCreate(
      prepared.fields.model,
      (maxRetries) =>
        getOpenAI().responses.create(
          { ...prepared.body, stream: false } as ResponseCreateParams & { stream: false },
          {
            headers: prepared.headers,
            signal: cc.signal,
            maxRetries,
          },
        ),
      cc.idempotent ?? false,
    );
  } catch (e) {
    if (!prepared.fields.background) await deleteUploadedFiles(prepared.uploadedFileIds);
    throw e;
  }
  try {
    await adopt(cc, prepared, response);
  } catch (e) {
    await discard(cc, prepared, response);
    throw e;
  }
  if (!prepared.fields.background) await settle(prepared, response);
  logResponse(cc.context, 'response.create', cc.caller, {
    id: response.id,
    deployment: prepared.fields.model,
    status: response.status,
    started,
    usage: response.usage,
  });
  return response;
}

/**
 * A non-streaming create behind an `Idempotency-Key`: the same key with the same body replays the first
 * result without a second upstream create (for 24 hours, across restarts); a different body is 422; a repeat
 * while the first is running is 409. Only behind such a key may the backend retry a create on 5xx/timeouts.
 */
export async function createResponseIdempotent(
  cc: CreateContext,
  body: Body,
  rawKey: string,
  webhookHeader: string | null,
): Promise<Response> {
  const key = validateIdempotencyKey(rawKey);
  if (body.stream === true) {
    throw badRequest(
      'Idempotency-Key applies to non-streaming creates; to recover a stream, resume it with GET /responses/{id}?stream=true&starting_after=N.',
      'stream',
      'idempotency_stream_unsupported',
    );
  }
  // Hash the body as sent, before document references are resolved in place.
  const begun = await beginIdempotent(cc.caller, key, hashRequestBody(body));
  if (begun.kind === 'replay') return begun.body as Response;
  try {
    const prepared = await prepareCreate(cc.caller, body);
    const webhookUrl = prepared.fields.background
      ? await resolveWebhookTarget(cc.caller, webhookHeader)
      : undefined;
    const response = await createResponse({ ...cc, webhookUrl, idempotent: true }, prepared);
    await completeIdempotent(begun.token, 200, response);
    return response;
  } catch (e) {
    await abandonIdempotent(begun.token).catch(() => undefined);
    throw e;
  }
}

export function sseFrame(event: { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

function errorFrame(err: unknown, sequenceNumber: number): string {
  const e =
    err instanceof ApiError
      ? err
      : new ApiError(502, 'The upstream stream failed.', 'upstream_error', 'stream_error');
  return sseFrame({
    type: 'error',
    code: e.code,
    message: e.message,
    param: e.param,
    sequence_number: sequenceNumber,
  } as { type: string });
}

/**
 * Relays upstream events as they arrive: one SSE frame per event, `sequence_number` untouched, nothing held
 * back. The response id is recorded as the caller's before the first frame carrying it is sent.
 */
async function* relay(
  events: AsyncIterable<ResponseStreamEvent>,
  onCreated: (response: Response) => Promise<void>,
  onEnded: (response: Response) => Promise<void>,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let last = -1;
  let ended = false;
  try {
    for await (const event of events) {
      if (event.type === 'response.created') await onCreated(event.response);
      last = event.sequence_number ?? last;
      yield Buffer.from(sseFrame(event));
      if (
        event.type === 'response.completed' ||
        event.type === 'response.failed' ||
        event.type === 'response.incomplete'
      ) {
        ended = true;
        await onEnded(event.response);
      }
    }
  } catch (e) {
    if (isUserAbort(e) || signal.aborted) return; // the caller left; nothing to tell them
    yield Buffer.from(errorFrame(e, last + 1));
    return;
  }
  if (!ended && !signal.aborted) {
    // The upstream stream closed without a terminal event (a cut connection): say so rather than end silently.
    yield Buffer.from(
      errorFrame(
        new ApiError(
          502,
          'The upstream stream ended early; resume it with GET ?stream=true&starting_after=<last sequence_number>.',
          'upstream_error',
          'stream_interrupted',
        ),
        last + 1,
      ),
    );
  }
}

/**
 * `events`, with its first event already being read: the read starts now rather than when the consumer first
 * pulls, and `onFirst` sees that event as soon as it arrives. A streamed create returns its body to the library,
 * which sets up the proxied response before it pulls (about 1 ms in the local host's traces); the first event's
 * ownership write (one storage round trip) overlaps that set-up instead of following it.
 */
function readingAhead<T>(events: AsyncIterable<T>, onFirst: (event: T) => void): AsyncIterable<T> {
  const iterator = events[Symbol.asyncIterator]();
  const head = iterator.next();
  head.then(
    (r) => {
      if (!r.done) onFirst(r.value);
    },
    () => undefined, // the consumer sees the error when it pulls
  );
  let pulled = false;
  return {
    [Symbol.asyncIterator]: () => ({
      next: () => {
        if (pulled) return iterator.next();
        pulled = true;
        return head;
      },
      return: async (value?: unknown) =>
        iterator.return ? iterator.return(value) : { done: true as const, value: value as T },
    }),
  };
}

/** Streaming create: the upstream connection is open (errors before it opened were thrown as usual). */
export async function createResponseStream(
  cc: CreateContext,
  prepared: PreparedCreate,
): Promise<AsyncIterable<Uint8Array>> {
  const started = Date.now();
  let stream: AsyncIterable<ResponseStreamEvent>;
  try {
    stream = await upstreamCreate(
      prepared.fields.model,
      (maxRetries) =>
        getOpenAI().responses.create(
          { ...prepared.body, stream: true } as ResponseCreateParams & { stream: true },
          {
            headers: prepared.headers,
            signal: cc.signal,
            maxRetries,
          },
        ),
      cc.idempotent ?? false,
    );
  } catch (e) {
    await deleteUploadedFiles(prepared.uploadedFileIds);
    throw e;
  }
  let id: string | undefined;
  let adopted: Promise<void> | undefined;
  const adoptOnce = (response: Response): Promise<void> => {
    id = response.id;
    return (adopted ??= adopt(cc, prepared, response));
  };
  return (async function* () {
    try {
      yield* relay(
        readingAhead(stream, (event) => {
          // Recorded while the host is still setting up the proxied response; the relay awaits the same write
          // before it sends the frame, so the caller still never sees an id that is not theirs yet.
          if (event.type === 'response.created') adoptOnce(event.response).catch(() => undefined);
        }),
        adoptOnce,
        async (response) => {
          await settle(prepared, response);
          logResponse(cc.context, 'response.create.stream', cc.caller, {
            id: response.id,
            deployment: prepared.fields.model,
            status: response.status,
            started,
            usage: response.usage,
          });
        },
        cc.signal,
      );
    } finally {
      if (cc.signal.aborted) {
        cc.context.log(
          JSON.stringify({ event: 'response.stream.aborted', responseId: id, caller: cc.caller.id }),
        );
        if (!prepared.fields.background) await deleteUploadedFiles(prepared.uploadedFileIds);
      }
    }
  })();
}

export interface RetrieveOptions {
  include: string[];
  stream: boolean;
  startingAfter?: number;
}

/** Retrieve: from the job record when the background job is finalized, else from upstream. */
export async function retrieveResponse(caller: Caller, id: string, include: string[]): Promise<Response> {
  const { background } = await assertOwned(caller, id);
  // Only background responses have job records; a synchronous one (background: false on its ownership record)
  // would pay a table read for a certain miss on every retrieve.
  if (include.length === 0 && background !== false) {
    const stored = await terminalResponseFromJob(id);
    if (stored) return stored;
  }
  return notFoundIfGone(id, () =>
    getOpenAI().responses.retrieve(id, { include: include as ResponseIncludable[], stream: false }),
  );
}

/** Resumes a stream (`GET ?stream=true&starting_after=N`). */
export async function retrieveResponseStream(
  caller: Caller,
  id: string,
  options: RetrieveOptions,
  signal: AbortSignal,
): Promise<AsyncIterable<Uint8Array>> {
  await assertOwned(caller, id);
  const stream = await notFoundIfGone(id, () =>
    getOpenAI().responses.retrieve(
      id,
      {
        include: options.include as ResponseIncludable[],
        stream: true,
        starting_after: options.startingAfter,
      },
      { signal },
    ),
  );
  return relay(
    stream,
    () => Promise.resolve(),
    async (response) => void (await storeImages(response)),
    signal,
  );
}

/** Upstream 404 for an id we own means it is gone there (deleted, expired): same 404 as for unknown ids. */
async function notFoundIfGone<T>(id: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) throw responseNotFound(id);
    throw e;
  }
}

export async function cancelResponse(caller: Caller, id: string): Promise<Response> {
  await assertOwned(caller, id);
  const response = await notFoundIfGone(id, () => getOpenAI().responses.cancel(id));
  await recordCancel(id, response);
  return response;
}

export async function deleteResponse(
  caller: Caller,
  id: string,
): Promise<{ id: string; object: string; deleted: boolean }> {
  await assertOwned(caller, id);
  let result: { id: string; object: string; deleted: boolean } = { id, object: 'response', deleted: true };
  try {
    // The SDK's delete() resolves to void; the raw body is Azure's `{ id, object, deleted }`.
    const raw = await getOpenAI().responses.delete(id).asResponse();
    const text = await raw.text();
    if (text) result = JSON.parse(text) as typeof result;
  } catch (e) {
    // Already gone upstream: still remove our own records so nothing of it lingers.
    if (!(isUpstreamError(e) && e.status === 404)) throw e;
  }
  await Promise.all([deleteImages(id), deleteJob(id)]);
  await forgetOwnership(caller, id);
  return result;
}

export interface ListQuery {
  limit?: number;
  order?: 'asc' | 'desc';
  after?: string;
  before?: string;
  include: string[];
}

export async function listInputItems(
  caller: Caller,
  id: string,
  query: ListQuery,
): Promise<ResponseItemList> {
  await assertOwned(caller, id);
  return notFoundIfGone(id, () =>
    getOpenAI().get<ResponseItemList>(`/responses/${id}/input_items`, {
      query: {
        limit: query.limit,
        order: query.order,
        after: query.after,
        before: query.before,
        include: query.include.length ? query.include : undefined,
      },
    }),
  );
}

/** Compaction by input items or by `previous_response_id` (which must be the caller's). */
export async function compact(caller: Caller, body: Body): Promise<unknown> {
  const model = resolveModel(body);
  const prev = previousResponseId(body);
  if (prev) await assertOwned(caller, prev, 'previous_response_id');
  if (body.input === undefined && !prev) {
    throw badRequest(
      "Give 'input' items or a 'previous_response_id' to compact.",
      'input',
      'missing_required_parameter',
    );
  }
  return withDeployment(model, () => getOpenAI().responses.compact({ ...body, model }));
}

export async function countInputTokens(caller: Caller, body: Body): Promise<unknown> {
  const model = resolveModel(body);
  const prev = previousResponseId(body);
  if (prev) await assertOwned(caller, prev, 'previous_response_id');
  return withDeployment(model, () => getOpenAI().responses.inputTokens.count({ ...body, model }));
}
