/**
 * Creating a response: the one entry the create handler calls, for every kind of create (synchronous, streamed,
 * background, behind an Idempotency-Key, with a completion webhook).
 */
import type { InvocationContext } from '@azure/functions';
import type {
  Response,
  ResponseCreateParams,
  ResponseStreamEvent,
} from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { storeImages } from '../files/images';
import {
  abandonIdempotent,
  beginIdempotent,
  completeIdempotent,
  hashRequestBody,
  validateIdempotencyKey,
} from '../idempotency/keys';
import { trackBackgroundJob } from '../jobs/api';
import { admitCreate, peekHeaders, reservationExtra, settleTokens, type Reservation } from '../limits';
import { getOpenAI } from '../platform/clients';
import { badRequest } from '../platform/errors';
import { recordUsage } from '../usage/ledger';
import { resolveWebhookTarget } from '../webhooks/registration';
import { deleteUploadedFiles } from './documents-ref';
import { sealIds } from './ids';
import { prepareCreate, type PreparedCreate } from './prepare';
import { readingAhead, relay } from './stream';
import { isTerminalResponse, logResponse, upstreamCreate } from './upstream';
import { usageOf, usageReadBack } from './usage';

export interface CreateRequest {
  caller: Caller;
  context: InvocationContext;
  /** Fires when the caller disconnects; aborts the upstream request. */
  signal: AbortSignal;
  /** The `Idempotency-Key` header, if any. */
  idempotencyKey?: string | null;
  /** The `X-Webhook-Url` header, if any (background creates only). */
  webhookUrl?: string | null;
}

/** A JSON answer, or an SSE body (`stream: true`), with the `x-ratelimit-*` headers of the caller's limits. */
export type CreateResult = ({ response: Response } | { stream: AsyncIterable<Uint8Array> }) & {
  headers: Record<string, string>;
};

/** Creates a response as the request asks (see the module comment). The body is completed in place. */
export async function createResponse(
  request: CreateRequest,
  body: Record<string, unknown>,
): Promise<CreateResult> {
  if (request.idempotencyKey !== null && request.idempotencyKey !== undefined) {
    return createIdempotent(request, body, request.idempotencyKey);
  }
  // The caller's limits, before anything (even a document upload) goes upstream.
  const { headers, reservation } = await admitCreate(request.caller.id, body, request.context);
  const run = await prepareRun(request, body, false, reservation);
  if (run.prepared.fields.stream) return { stream: await createStream(run), headers };
  return { response: await createOnce(run), headers };
}

/** What one create works with once the request is prepared. */
interface CreateRun {
  cc: CreateRequest;
  prepared: PreparedCreate;
  /** Validated webhook target of a background create. */
  webhookUrl: string | undefined;
  /** Set when the request carried an Idempotency-Key: only then may the backend retry a create itself. */
  idempotent: boolean;
  /** Tokens charged to the caller's limits, corrected with the actual usage when the response ends. */
  reservation: Reservation | undefined;
}

async function prepareRun(
  cc: CreateRequest,
  body: Record<string, unknown>,
  idempotent: boolean,
  reservation: Reservation | undefined,
): Promise<CreateRun> {
  try {
    const prepared = await prepareCreate(cc.caller, body);
    const webhookUrl = prepared.fields.background
      ? await resolveWebhookTarget(cc.caller, cc.webhookUrl ?? null)
      : undefined;
    return { cc, prepared, webhookUrl, idempotent, reservation };
  } catch (e) {
    settleTokens(reservation, null);
    throw e;
  }
}

/**
 * What happens once the service has a response object. Its id becomes the caller's by sealing (no record
 * needed); a background response is tracked as a job, the one storage write a create makes.
 */
async function adopt(run: CreateRun, response: Response): Promise<void> {
  const { cc, prepared } = run;
  if (prepared.fields.background && !isTerminalResponse(response)) {
    await trackBackgroundJob({
      caller: cc.caller,
      response,
      kind: 'response',
      deployment: prepared.fields.model,
      webhookUrl: run.webhookUrl,
      uploadedFileIds: prepared.uploadedFileIds,
      // The job's finalization corrects the reservation with the usage (shared/jobs/finalize.ts).
      extra: reservationExtra(run.reservation),
    });
  }
}

/**
 * The response exists upstream but could not be made the caller's (storage is down): the caller gets the error
 * and never learns the id, so nothing may keep running or stay stored under it. Quick, because the caller is
 * waiting for the error; each step that fails is logged with the id, for the operator to clean up.
 */
async function discard(run: CreateRun, response: Response): Promise<void> {
  const { cc, prepared } = run;
  const options = { maxRetries: 0, timeout: 5_000 };
  const openai = getOpenAI();
  const failures: Record<string, string> = {};
  const attempt = async (step: string, work: () => Promise<unknown>): Promise<boolean> => {
    try {
      await work();
      return true;
    } catch (e) {
      failures[step] = e instanceof Error ? e.message : String(e);
      return false;
    }
  };
  if (prepared.fields.background && !isTerminalResponse(response))
    await attempt('cancel', () => openai.responses.cancel(response.id, options));
  const deleted = await attempt('delete', () => openai.responses.delete(response.id, options));
  await attempt('deleteUploadedFiles', () => deleteUploadedFiles(prepared.uploadedFileIds, cc.context));
  cc.context.warn(
    JSON.stringify({
      event: 'response.discarded',
      responseId: response.id,
      caller: cc.caller.id,
      deleted,
      failures,
    }),
  );
}

/** After a non-background response ended: its images are kept and its temporary uploads removed. */
async function settle(run: CreateRun, response: Response): Promise<void> {
  if (isTerminalResponse(response)) await storeImages(response);
  if (!run.prepared.fields.background)
    await deleteUploadedFiles(run.prepared.uploadedFileIds, run.cc.context);
}

/** Non-streaming create (synchronous or background); the answer has the caller's ids. */
async function createOnce(run: CreateRun): Promise<Response> {
  const { cc, prepared } = run;
  const started = Date.now();
  let response: Response;
  try {
    response = await upstreamCreate(
      prepared.fields.model,
      (maxRetries) =>
        getOpenAI().responses.create(
          { ...prepared.body, stream: false } as ResponseCreateParams & { stream: false },
          { headers: prepared.headers, signal: cc.signal, maxRetries },
        ),
      run.idempotent,
    );
  } catch (e) {
    settleTokens(run.reservation, null);
    if (!prepared.fields.background) await deleteUploadedFiles(prepared.uploadedFileIds, cc.context);
    throw e;
  }
  if (!prepared.fields.background || isTerminalResponse(response))
    settleTokens(run.reservation, response.usage);
  try {
    await adopt(run, response);
  } catch (e) {
    await discard(run, response);
    throw e;
  }
  // A background response still running is the job's to record, when it ends (shared/jobs/finalize.ts).
  if (!prepared.fields.background || isTerminalResponse(response))
    recordUsage(usageOf(cc.caller, prepared.fields.model, response, 'response'), cc.context);
  if (!prepared.fields.background) await settle(run, response);
  logResponse(cc.context, 'response.create', cc.caller, {
    id: response.id,
    deployment: prepared.fields.model,
    status: response.status,
    started,
    usage: response.usage,
  });
  return sealIds(cc.caller, response);
}

/**
 * A non-streaming create behind an `Idempotency-Key`: the same key with the same body replays the first
 * result without a second upstream create (for 24 hours, across restarts); a different body is 422; a repeat
 * while the first is running is 409. Only behind such a key may the backend retry a create on 5xx/timeouts.
 */
async function createIdempotent(
  cc: CreateRequest,
  body: Record<string, unknown>,
  rawKey: string,
): Promise<CreateResult> {
  const key = validateIdempotencyKey(rawKey);
  if (body.stream === true) {
    throw badRequest(
      'Idempotency-Key applies to non-streaming creates; to recover a stream, create it with background: true and resume it with GET /responses/{id}?stream=true&starting_after=N.',
      'stream',
      'idempotency_stream_unsupported',
    );
  }
  // Hash the body as sent, before document references are resolved in place.
  const begun = await beginIdempotent(cc.caller, key, hashRequestBody(body));
  if (begun.kind === 'replay')
    return { response: begun.body as Response, headers: await peekHeaders(cc.caller.id) };
  try {
    // A replay costs nothing upstream, so only a create that runs is counted against the caller's limits.
    const { headers, reservation } = await admitCreate(cc.caller.id, body, cc.context);
    const response = await createOnce(await prepareRun(cc, body, true, reservation));
    await completeIdempotent(begun.token, 200, response);
    return { response, headers };
  } catch (e) {
    // The caller gets `e`; giving the key back only lets their retry run again, and the stale-claim takeover
    // does the same later if this fails too.
    await abandonIdempotent(begun.token).catch((abandonError: unknown) =>
      cc.context.warn(
        JSON.stringify({
          event: 'idempotency.abandon_failed',
          caller: cc.caller.id,
          error: abandonError instanceof Error ? abandonError.message : String(abandonError),
        }),
      ),
    );
    throw e;
  }
}

/** Streaming create: the upstream connection is open (errors before it opened are thrown as usual). */
async function createStream(run: CreateRun): Promise<AsyncIterable<Uint8Array>> {
  const { cc, prepared } = run;
  const started = Date.now();
  let stream: AsyncIterable<ResponseStreamEvent>;
  try {
    stream = await upstreamCreate(
      prepared.fields.model,
      (maxRetries) =>
        getOpenAI().responses.create(
          { ...prepared.body, stream: true } as ResponseCreateParams & { stream: true },
          { headers: prepared.headers, signal: cc.signal, maxRetries },
        ),
      run.idempotent,
    );
  } catch (e) {
    settleTokens(run.reservation, null);
    await deleteUploadedFiles(prepared.uploadedFileIds, cc.context);
    throw e;
  }
  let id: string | undefined;
  let adopted: Promise<void> | undefined;
  const adoptOnce = (response: Response): Promise<void> => {
    id = response.id;
    return (adopted ??= adopt(run, response));
  };
  const events = readingAhead(stream, (event) => {
    // Recorded while the host is still setting up the proxied response. Not lost: the relay awaits this same
    // promise before it sends the frame, and handles its failure there.
    if (event.type === 'response.created') adoptOnce(event.response).catch(() => undefined);
  });
  let settled = false;
  let ended = false;
  return (async function* () {
    try {
      yield* relay(events, {
        onCreated: adoptOnce,
        onEnded: async (response) => {
          ended = true;
          // A background stream's job is settled and recorded at its finalization, like any background response.
          if (!prepared.fields.background) {
            settleTokens(run.reservation, response.usage);
            recordUsage(usageOf(cc.caller, prepared.fields.model, response, 'stream'), cc.context);
          }
          await settle(run, response);
          settled = true;
          logResponse(cc.context, 'response.create.stream', cc.caller, {
            id: response.id,
            deployment: prepared.fields.model,
            status: response.status,
            started,
            usage: response.usage,
          });
        },
        onAdoptFailed: (response) => discard(run, response),
        seal: (event) => sealIds(cc.caller, event),
        resumable: prepared.fields.background,
        signal: cc.signal,
        log: cc.context,
        logFields: { caller: cc.caller.id, deployment: prepared.fields.model },
      });
    } finally {
      if (cc.signal.aborted) {
        cc.context.log(
          JSON.stringify({ event: 'response.stream.aborted', responseId: id, caller: cc.caller.id }),
        );
      }
      // Ended without a terminal event (the caller left, an `error` event alone, a cut): the foreground
      // response is over all the same, so its temporary uploads go.
      if (!settled && !prepared.fields.background)
        await deleteUploadedFiles(prepared.uploadedFileIds, cc.context);
      // No terminal event: what the response used is read back from upstream once it has stopped.
      if (!ended && !prepared.fields.background && id && prepared.body.store !== false)
        recordUsage(usageReadBack(cc.caller, prepared.fields.model, id), cc.context);
    }
  })();
}
