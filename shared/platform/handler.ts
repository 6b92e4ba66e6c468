/** Wraps a handler so that anything it throws goes through the one error mapper. */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { toErrorResponse } from './errors';

export function withErrors(
  handler: (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>,
): HttpHandler {
  return async (request, context) => {
    try {
      return await handler(request, context);
    } catch (e) {
      return toErrorResponse(e, context);
    }
  };
}

/** A `text/event-stream` answer whose body is relayed chunk by chunk (needs `enableHttpStream`). */
export function sse(body: AsyncIterable<Uint8Array>, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status: 200,
    headers: {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    },
    body,
  };
}
