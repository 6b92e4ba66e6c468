/**
 * Client disconnects for streamed HTTP responses.
 *
 * With `enableHttpStream`, the Functions host forwards each HTTP request to an HTTP server inside
 * `@azure/functions` (src/http/httpProxy.ts), tagged with `x-ms-invocation-id`. The library writes our body to
 * that connection but never tells the handler when the caller went away, so a relayed stream would keep
 * pulling from Azure OpenAI after the caller hung up. Node's public `http.server.request.start` diagnostics
 * channel lets us see that proxied request/response pair without patching the library: when the response
 * closes before it finished, the invocation's AbortSignal fires and the upstream request is aborted.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';

const controllers = new Map<string, AbortController>();
let watching = false;

interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
}

function onRequestStart(message: unknown): void {
  const { request, response } = message as RequestStart;
  const invocationId = request.headers['x-ms-invocation-id'];
  if (typeof invocationId !== 'string') return;
  const controller = new AbortController();
  controllers.set(invocationId, controller);
  response.once('close', () => {
    controllers.delete(invocationId);
    if (!response.writableFinished) controller.abort(new Error('client disconnected'));
  });
}

/** Starts watching the library's proxy connections. Cheap (no I/O); call once from the app entry. */
export function watchClientDisconnects(): void {
  if (watching) return;
  watching = true;
  diagnosticsChannel.subscribe('http.server.request.start', onRequestStart);
}

/**
 * An AbortSignal that fires when the caller of invocation `invocationId` disconnects before its response
 * finished. Outside a streaming host (unit tests) it never fires.
 */
export function disconnectSignal(invocationId: string): AbortSignal {
  return controllers.get(invocationId)?.signal ?? new AbortController().signal;
}
