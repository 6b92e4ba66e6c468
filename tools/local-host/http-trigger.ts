import { randomUUID } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { RegisteredFunction, Registry } from './core-api';
import type { RpcHttpCookie, RpcHttpData, RpcInvocationResponse, RpcTypedData } from './core-types';
import { invokeFunction, triggerOf } from './invoke';
import { describeError, type Logger } from './logger';

/** Headers that describe one hop and must not be forwarded (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** How long to wait for the proxied response once the invocation finished (it was written before it finished). */
const RESPONSE_GRACE_MS = 1000;

export interface HttpTriggerContext {
  registry: Registry;
  logger: Logger;
  /** `HttpUri` from the programming model's capabilities; undefined when the app did not enable streaming. */
  proxyUri: string | undefined;
  /** Keep-alive connections to the library's proxy, closed with the host. */
  agent: http.Agent;
}

/** Request headers as one string per name (what `triggerMetadata.Headers` carries). */
function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function requestUrl(req: IncomingMessage): URL {
  return new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
}

function triggerMetadataFor(
  req: IncomingMessage,
  params: Record<string, string>,
): Record<string, RpcTypedData> {
  const metadata: Record<string, RpcTypedData> = {};
  for (const [k, v] of Object.entries(params)) metadata[k] = { string: v };
  metadata.Headers = { json: JSON.stringify(flattenHeaders(req.headers)) };
  metadata.Query = { json: JSON.stringify(Object.fromEntries(requestUrl(req).searchParams)) };
  return metadata;
}

/** Serves one request to an HTTP-triggered function. Never throws; failures become 500 (as the host answers). */
export async function serveHttpTrigger(
  ctx: HttpTriggerContext,
  fn: RegisteredFunction,
  params: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    if (ctx.proxyUri) await serveStreaming(ctx, ctx.proxyUri, fn, params, req, res);
    else await serveBuffered(ctx, fn, params, req, res);
  } catch (err) {
    ctx.logger.host('error', `HTTP request for ${fn.metadata.name} failed: ${describeError(err)}`);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end();
    } else res.destroy();
  }
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/**
 * The `enableHttpStream` path, as the real host runs it: the raw request (headers and a body that is streamed,
 * not read first) is forwarded to the library's proxy server with `x-ms-invocation-id`, and whatever the library
 * writes on that connection (`sendProxyResponse`) is relayed to the client chunk by chunk. Route parameters and
 * headers travel in `triggerMetadata` (`createStreamRequest` in `@azure/functions` `src/http/HttpRequest.ts`).
 *
 * When the client goes away the proxied connection is destroyed, so the library's request body errors for a
 * handler still reading it. The library offers handlers no abort signal beyond that
 * (Azure/azure-functions-nodejs-library#294), so a handler that only writes keeps running, as in Azure.
 */
async function serveStreaming(
  ctx: HttpTriggerContext,
  proxyUri: string,
  fn: RegisteredFunction,
  params: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const invocationId = randomUUID();
  const trigger = triggerOf(fn);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
  headers['x-ms-invocation-id'] = invocationId;
  headers['x-forwarded-host'] = req.headers.host ?? '127.0.0.1';
  headers['x-forwarded-proto'] = 'http';

  const proxyReq = http.request(new URL(req.url ?? '/', proxyUri), {
    method: req.method,
    headers,
    agent: ctx.agent,
  });
  const proxyResponse = new Promise<IncomingMessage>((resolve, reject) => {
    proxyReq.once('response', resolve);
    proxyReq.once('error', reject);
  });
  let clientGone = false;
  res.once('close', () => {
    if (!res.writableFinished) {
      clientGone = true;
      proxyReq.destroy();
    }
  });
  req.once('error', () => proxyReq.destroy());
  req.pipe(proxyReq);

  const invocation = settle(
    invokeFunction(
      ctx.registry,
      fn,
      {
        invocationId,
        inputData: [{ name: trigger.name, data: { http: {} } }],
        triggerMetadata: triggerMetadataFor(req, params),
        reason: `This function was programmatically called via the host APIs.`,
      },
      ctx.logger,
    ),
  );
  const response = settle(proxyResponse);

  const first = await Promise.race([
    response.then((r) => ({ kind: 'response' as const, r })),
    invocation.then((i) => ({ kind: 'invocation' as const, i })),
  ]);

  let proxyRes: IncomingMessage | undefined;
  if (first.kind === 'response') {
    if (!first.r.ok) {
      req.resume();
      // An early answer (before the body was read) breaks the proxied connection: use the function's result.
      const done = await Promise.race([
        invocation,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), RESPONSE_GRACE_MS)),
      ]);
      if (clientGone || res.headersSent) return;
      if (done?.ok && done.value.result !== undefined) {
        answerFromResult(res, done.value.result, first.r);
        return;
      }
      ctx.logger.host('error', `Proxying to the worker failed: ${describeError(first.r.error)}`);
      res.writeHead(502).end();
      return;
    }
    proxyRes = first.r.value;
  } else if (!first.i.ok) {
    // The handler threw before answering: the host answers 500 with no body.
    proxyReq.destroy();
    if (!res.headersSent && !clientGone) res.writeHead(500, { 'content-length': '0' }).end();
    return;
  } else {
    const late = await Promise.race([
      response,
      new Promise<undefined>((r) => setTimeout(() => r(undefined), RESPONSE_GRACE_MS)),
    ]);
    if (late?.ok) proxyRes = late.value;
    else {
      proxyReq.destroy();
      req.resume(); // drain what the client still sends, so it reads the answer rather than a reset
      if (!res.headersSent && !clientGone) answerFromResult(res, first.i.value.result, late);
      return;
    }
  }

  const outHeaders: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(proxyRes.headers)) {
    if (v !== undefined && !HOP_BY_HOP.has(k) && k !== 'x-ms-invocation-id') outHeaders[k] = v;
  }
  // Not flushed on their own: the library sends its headers with the first body chunk (or the end), so here they
  // leave with that chunk in one write, and the client gets status, headers and the first SSE event in one read.
  res.writeHead(proxyRes.statusCode ?? 200, outHeaders);
  proxyRes.on('error', () => res.destroy());
  proxyRes.pipe(res);

  const outcome = await invocation;
  if (!outcome.ok) {
    // Failed mid-stream: the library will never end the proxied response, so cut the client off.
    proxyReq.destroy();
    res.destroy();
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** The path without `enableHttpStream`: request and response travel whole, in `inputData` and the invocation response. */
async function serveBuffered(
  ctx: HttpTriggerContext,
  fn: RegisteredFunction,
  params: Record<string, string>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const trigger = triggerOf(fn);
  const body = await readBody(req);
  const url = requestUrl(req);
  const httpData: RpcHttpData = {
    method: req.method ?? 'GET',
    url: url.toString(),
    headers: flattenHeaders(req.headers),
    query: Object.fromEntries(url.searchParams),
    params,
    body: body.length > 0 ? { bytes: body } : null,
  };
  let outcome;
  try {
    outcome = await invokeFunction(
      ctx.registry,
      fn,
      {
        inputData: [{ name: trigger.name, data: { http: httpData } }],
        triggerMetadata: triggerMetadataFor(req, params),
        reason: 'This function was programmatically called via the host APIs.',
      },
      ctx.logger,
    );
  } catch {
    res.writeHead(500, { 'content-length': '0' }).end();
    return;
  }
  const out = httpResponseOf(fn, outcome.response);
  if (!out) {
    res.writeHead(204).end();
    return;
  }
  const headers: Record<string, string | string[]> = { ...(out.headers ?? {}) };
  const cookies = (out.cookies ?? []).map(serializeCookie);
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  const payload = out.body?.bytes
    ? Buffer.from(out.body.bytes)
    : typeof out.body?.string === 'string'
      ? Buffer.from(out.body.string)
      : Buffer.alloc(0);
  headers['content-length'] = String(payload.length);
  res.writeHead(Number(out.statusCode ?? 200), headers).end(payload);
}

function httpResponseOf(fn: RegisteredFunction, response: RpcInvocationResponse): RpcHttpData | undefined {
  const ret = fn.metadata.bindings.$return;
  if (ret?.type === 'http' && response.returnValue?.http) return response.returnValue.http;
  for (const o of response.outputData ?? []) {
    const binding = o.name ? fn.metadata.bindings[o.name] : undefined;
    if (binding?.type === 'http' && o.data?.http) return o.data.http;
  }
  return undefined;
}

function serializeCookie(c: RpcHttpCookie): string {
  const parts = [`${c.name ?? ''}=${encodeURIComponent(c.value ?? '')}`];
  if (c.domain?.value) parts.push(`Domain=${c.domain.value}`);
  if (c.path?.value) parts.push(`Path=${c.path.value}`);
  if (c.expires?.value?.seconds)
    parts.push(`Expires=${new Date(c.expires.value.seconds * 1000).toUTCString()}`);
  if (c.maxAge?.value !== undefined && c.maxAge.value !== null) parts.push(`Max-Age=${c.maxAge.value}`);
  if (c.secure?.value) parts.push('Secure');
  if (c.httpOnly?.value) parts.push('HttpOnly');
  if (c.sameSite === 'lax') parts.push('SameSite=Lax');
  else if (c.sameSite === 'strict') parts.push('SameSite=Strict');
  else if (c.sameSite === 'explicitNone') parts.push('SameSite=None');
  return parts.join('; ');
}

/**
 * The function finished but its proxied response never came back. With an answer given before the request body
 * was read (a 413 on Content-Length, say), the library's proxy server closes the connection while the host is
 * still sending the body, so the host sees EPIPE instead of the response. The real host answers such requests;
 * here the handler's own result stands in for the lost response. A function that returned nothing gets 204.
 */
interface ResultInit {
  status?: number;
  headers?: Record<string, string>;
  jsonBody?: unknown;
  body?: unknown;
}

function answerFromResult(
  res: ServerResponse,
  result: unknown,
  late: { ok: false; error: unknown } | undefined,
): void {
  if (!late || result === undefined || result === null || typeof result !== 'object') {
    res.writeHead(204).end();
    return;
  }
  const init: ResultInit = result;
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  let body: string | undefined;
  if (init.jsonBody !== undefined) {
    body = JSON.stringify(init.jsonBody);
    headers['content-type'] ??= 'application/json';
  } else if (typeof init.body === 'string') {
    body = init.body;
  }
  res.writeHead(init.status ?? 200, headers).end(body);
}
