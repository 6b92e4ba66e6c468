/**
 * The SSE relay: upstream events go to the caller as they arrive, one frame per event, `sequence_number`
 * untouched, nothing held back. A stream ends with the upstream's own terminal event, or with one `error` frame
 * that says what went wrong.
 */
import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { ApiError, isConnectionLoss, isUserAbort, toApiError } from '../platform/errors';
import type { Log } from '../platform/log';

export function sseFrame(event: { type: string }): string {
  return `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

function errorFrame(e: ApiError, sequenceNumber: number): Uint8Array {
  return Buffer.from(
    sseFrame({
      type: 'error',
      code: e.code,
      message: e.message,
      param: e.param,
      sequence_number: sequenceNumber,
    } as { type: string }),
  );
}

export interface RelayOptions {
  /** Runs before the first frame carrying the response id goes out: the id must be the caller's by then. */
  onCreated?: (response: Response) => Promise<void>;
  /** Runs after the terminal event's frame went out. */
  onEnded?: (response: Response) => Promise<void>;
  /**
   * `onCreated` failed (storage is down): the caller never learns the id, so the upstream response must not
   * keep running or stay stored under it.
   */
  onAdoptFailed?: (response: Response) => Promise<void>;
  /**
   * Rewrites each event before it is framed (sealing its ids for the caller). Events that carry the response are
   * copied first: the hooks still need its upstream ids.
   */
  seal?: (event: ResponseStreamEvent) => ResponseStreamEvent;
  /** Whether the response can be resumed (`GET ?stream=true&starting_after=N`): background ones only. */
  resumable: boolean;
  /** Fires when the caller disconnects. */
  signal: AbortSignal;
  log: Log;
  /** Log fields that name the stream (caller, response id once known). */
  logFields?: Record<string, unknown>;
}

/** Marks a failure of the relay's own work (recording, settling), as opposed to the upstream stream's. */
class HookFailure extends Error {
  constructor(
    readonly hook: 'onCreated' | 'onEnded',
    override readonly cause: unknown,
  ) {
    super(`${hook} failed`);
  }
}

const TERMINAL_EVENTS = new Set(['response.completed', 'response.failed', 'response.incomplete']);

/** The stream broke before its end: where the upstream can resume it (background only), say how. */
function interrupted(resumable: boolean): ApiError {
  const message = resumable
    ? 'The upstream stream ended early; resume it with GET /responses/{id}?stream=true&starting_after=<last sequence_number>.'
    : 'The upstream stream ended early. Only background responses can be resumed; retry the request, or create it with background: true to be able to resume.';
  return new ApiError(502, message, 'upstream_error', 'stream_interrupted');
}

/** Relays `events` as SSE frames (see the module comment). */
export async function* relay(
  events: AsyncIterable<ResponseStreamEvent>,
  options: RelayOptions,
): AsyncGenerator<Uint8Array> {
  let last = -1;
  let ended = false;
  let response: Response | undefined;
  const logFailure = (what: string, e: unknown) =>
    options.log.warn(
      JSON.stringify({
        event: what,
        ...options.logFields,
        responseId: response?.id,
        lastSequenceNumber: last,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
  try {
    for await (const event of events) {
      if (event.type === 'response.created') {
        response = event.response;
        await options.onCreated?.(event.response).catch((e: unknown) => {
          throw new HookFailure('onCreated', e);
        });
      }
      last = event.sequence_number ?? last;
      const out = options.seal ? options.seal('response' in event ? structuredClone(event) : event) : event;
      yield Buffer.from(sseFrame(out));
      // An upstream `error` event is the stream's last word: relayed once, as the error it is. A
      // `response.failed` may follow; nothing of ours is added either way.
      if (event.type === 'error') {
        ended = true;
        logFailure('response.stream.upstream_error', event.code ?? event.message);
      }
      if (TERMINAL_EVENTS.has(event.type)) {
        ended = true;
        response = (event as { response: Response }).response;
        await options.onEnded?.(response).catch((e: unknown) => {
          throw new HookFailure('onEnded', e);
        });
      }
    }
  } catch (e) {
    if (e instanceof HookFailure) {
      logFailure(`response.stream.${e.hook}_failed`, e.cause);
      if (e.hook === 'onCreated' && response) await options.onAdoptFailed?.(response);
      yield errorFrame(toApiError(e.cause, options.log), last + 1);
      return;
    }
    if (isUserAbort(e) || options.signal.aborted) return; // the caller left; nothing to tell them
    if (isConnectionLoss(e)) {
      // The upstream dropped the connection mid-stream: the same cut as a body that ends early (unless its
      // `error` event already said why).
      if (ended) return;
      logFailure('response.stream.interrupted', e);
      yield errorFrame(interrupted(options.resumable), last + 1);
      return;
    }
    logFailure('response.stream.upstream_failed', e);
    yield errorFrame(toApiError(e, options.log), last + 1);
    return;
  }
  if (!ended && !options.signal.aborted) {
    // The upstream stream closed without a terminal event (a cut connection): say so rather than end silently.
    logFailure('response.stream.interrupted', 'closed without a terminal event');
    yield errorFrame(interrupted(options.resumable), last + 1);
  }
}

/**
 * `events`, with its first event already being read: the read starts now rather than when the consumer first
 * pulls, and `onFirst` sees that event as soon as it arrives. A streamed create returns its body to the library,
 * which sets up the proxied response before it pulls (about 1 ms in the local host's traces); the first event's
 * ownership write (one storage round trip) overlaps that set-up instead of following it.
 */
export function readingAhead<T>(events: AsyncIterable<T>, onFirst: (event: T) => void): AsyncIterable<T> {
  const iterator = events[Symbol.asyncIterator]();
  const head = iterator.next();
  head.then(
    (r) => {
      if (!r.done) onFirst(r.value);
    },
    () => undefined, // not lost: the consumer gets this rejection from `head` when it pulls
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
