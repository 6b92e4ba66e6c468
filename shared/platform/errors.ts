/**
 * One error shape, produced in one place. Every error the service answers is OpenAI-shaped
 * (`{ error: { message, type, param, code } }`) so OpenAI SDKs raise their usual error classes.
 */
import type { HttpResponseInit } from '@azure/functions';
import type { Log } from './log';
import type { APIError } from 'openai/error';
import { openaiErrors } from './sdk';
import { ConfigError } from './config';

export interface ErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    /** Azure's details of a refusal, kept where Azure puts them (`content_filter_result` of a filtered prompt). */
    innererror?: Record<string, unknown>;
  };
}

/** An error the service means to answer with: status, OpenAI error type and code. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
    readonly innererror?: Record<string, unknown>,
  ) {
    super(message);
  }

  toBody(): ErrorBody {
    const error: ErrorBody['error'] = {
      message: this.message,
      type: this.type,
      param: this.param,
      code: this.code,
    };
    if (this.innererror) error.innererror = this.innererror;
    return { error };
  }
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code: string | null = 'invalid_value',
) => new ApiError(400, message, 'invalid_request_error', code, param);

export const unauthorized = (message: string) =>
  new ApiError(401, message, 'authentication_error', 'invalid_api_key');

export const notFound = (message: string, param: string | null = null) =>
  new ApiError(404, message, 'invalid_request_error', 'not_found', param);

export const conflict = (message: string, code = 'conflict') =>
  new ApiError(409, message, 'invalid_request_error', code);

export const payloadTooLarge = (limit: number) =>
  new ApiError(
    413,
    `Request body is larger than the ${limit} bytes this service accepts.`,
    'invalid_request_error',
    'payload_too_large',
  );

export const unprocessable = (message: string, code: string) =>
  new ApiError(422, message, 'invalid_request_error', code);

export const serviceUnavailable = (message: string, code = 'service_unavailable') =>
  new ApiError(503, message, 'service_unavailable', code);

/** Narrows to the SDK's upstream error with its declared (not `any`) type parameters. */
export function isUpstreamError(e: unknown): e is APIError {
  return e instanceof openaiErrors().APIError;
}

/** The caller's own abort (AbortSignal) of an SDK request. */
export function isUserAbort(e: unknown): boolean {
  return e instanceof openaiErrors().APIUserAbortError;
}

/** Azure OpenAI did not answer in time (our timeout, or its own 408/504 before any event). */
export const upstreamTimeout = () =>
  new ApiError(
    504,
    'Azure OpenAI did not answer within AZURE_OPENAI_TIMEOUT_MS on any attempt. For long work, send `background: true` and poll or take the webhook, or `stream: true`.',
    'upstream_error',
    'upstream_timeout',
  );

/**
 * The connection to Azure OpenAI broke while a body was being read (undici's `terminated`, a reset socket): a
 * cut stream, not a bug of ours.
 */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof openaiErrors().APIConnectionError) return true;
  const e = err as { message?: string; code?: string; cause?: { code?: string } } | undefined;
  if (err instanceof TypeError && e?.message === 'terminated') return true;
  const code = e?.cause?.code ?? e?.code ?? '';
  return code.startsWith('UND_ERR_') || code === 'ECONNRESET' || code === 'EPIPE';
}

/** Azure Storage is down or unreachable: a 503 the caller can retry, not an opaque 500. */
function isStorageOutage(err: unknown): boolean {
  const e = err as { code?: string; name?: string; statusCode?: number };
  if (e?.name === 'RestError' && (e.statusCode === undefined || e.statusCode >= 500)) return true;
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND'].includes(e?.code ?? '');
}

/**
 * Translates an error from the upstream Azure OpenAI call (thrown by the `openai` SDK after its own bounded
 * retries) into what the caller should see.
 */
export function fromUpstream(err: APIError, deployment?: string): ApiError {
  const status = err.status;
  const upstream = (err.error ?? {}) as {
    message?: string;
    type?: string;
    code?: string | null;
    param?: string | null;
    innererror?: Record<string, unknown>;
  };
  const message = upstream.message ?? err.message;
  if (status === undefined) {
    return new ApiError(502, 'The model endpoint did not answer.', 'upstream_error', 'upstream_unavailable');
  }
  if (status === 401 || status === 403) {
    // Never echo upstream auth details: they concern our identity, not the caller.
    return new ApiError(
      502,
      "Azure OpenAI rejected this service's credential. Check that the service's managed identity has the 'Cognitive Services OpenAI User' role on the Azure OpenAI resource and that AZURE_OPENAI_TOKEN_SCOPE is right.",
      'upstream_error',
      'upstream_auth_failed',
    );
  }
  if (status === 404 && (upstream.code === 'DeploymentNotFound' || /deployment/i.test(message))) {
    return new ApiError(
      404,
      `The deployment '${deployment ?? 'unknown'}' was not found on the Azure OpenAI resource. Check the deployment name (not the model name) in 'model'.`,
      'invalid_request_error',
      'deployment_not_found',
      'model',
    );
  }
  // Azure's own timeouts (408 `Timeout`, 504 `GatewayTimeout`) answer as ours does: nothing came back in time.
  if (status === 408 || status === 504) return upstreamTimeout();
  if (status === 429) {
    const headers: Record<string, string> = {};
    const ms = err.headers?.get('retry-after-ms');
    const s = err.headers?.get('retry-after');
    const seconds = s ?? (ms ? String(Math.max(1, Math.ceil(Number(ms) / 1000))) : '1');
    headers['retry-after'] = seconds;
    if (ms) headers['retry-after-ms'] = ms;
    // Azure OpenAI's quota is the deployment's, shared by every caller; the gateway's own per-caller limits
    // answer 429 with type `gateway_rate_limit_error` (shared/limits), so a caller can tell the two apart.
    return new ApiError(
      429,
      `Azure OpenAI rate-limited the deployment this service shares among its callers: ${message || 'rate limit reached'}`,
      'upstream_rate_limit_error',
      // Azure's 429 body says `"code": "429"`; callers get OpenAI's name for it.
      upstream.code && !/^\d+$/.test(upstream.code) ? upstream.code : 'rate_limit_exceeded',
      null,
      headers,
    );
  }
  if (status >= 500) {
    return new ApiError(
      502,
      `Azure OpenAI answered ${status}: ${message}`,
      'upstream_error',
      'upstream_error',
    );
  }
  // Other 4xx (validation, content filter, not found...) pass through with their message, param and code, and
  // the filter results of a filtered prompt (`innererror.content_filter_result`).
  const innererror =
    upstream.innererror && typeof upstream.innererror === 'object' ? upstream.innererror : undefined;
  return new ApiError(
    status,
    message,
    upstream.type ?? 'invalid_request_error',
    upstream.code ?? null,
    upstream.param ?? null,
    {},
    innererror,
  );
}

/**
 * Maps anything thrown to the error the caller sees: expected errors keep their status, upstream errors are
 * translated, the unexpected is logged and becomes an opaque 500. The one mapper for JSON answers and for the
 * `error` frame that ends a failed stream.
 */
export function toApiError(err: unknown, context?: Log, deployment?: string): ApiError {
  let apiError: ApiError;
  if (err instanceof ApiError) {
    apiError = err;
  } else if (err instanceof openaiErrors().APIConnectionTimeoutError) {
    apiError = upstreamTimeout();
  } else if (err instanceof openaiErrors().APIConnectionError) {
    apiError = new ApiError(502, 'Could not reach Azure OpenAI.', 'upstream_error', 'upstream_unavailable');
  } else if (isUpstreamError(err)) {
    apiError = fromUpstream(err, deployment);
  } else if (err instanceof ConfigError) {
    context?.error(`configuration error: ${err.message}`);
    apiError = new ApiError(
      500,
      'The service is misconfigured; see its logs.',
      'server_error',
      'configuration_error',
    );
  } else if (isStorageOutage(err)) {
    context?.warn(`storage unavailable: ${(err as Error).message}`);
    apiError = serviceUnavailable(
      'Storage is temporarily unavailable; retry shortly.',
      'storage_unavailable',
    );
  } else {
    context?.error(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    apiError = new ApiError(500, 'The service had an unexpected error.', 'server_error', 'internal_error');
  }
  if (apiError.status >= 500) context?.warn(`answering ${apiError.status} ${apiError.code ?? ''}`);
  // One line per 429 answered, saying whose limit it was: the usage workbook counts them by source.
  if (apiError.status === 429) {
    const source = isUpstreamError(err) ? 'upstream' : 'gateway';
    context?.log(JSON.stringify({ event: 'http.429', source, type: apiError.type, code: apiError.code }));
  }
  return apiError;
}

/** Maps anything thrown to an HTTP response (see {@link toApiError}). */
export function toErrorResponse(err: unknown, context?: Log, deployment?: string): HttpResponseInit {
  const apiError = toApiError(err, context, deployment);
  return {
    status: apiError.status,
    headers: { 'content-type': 'application/json', ...apiError.headers },
    jsonBody: apiError.toBody(),
  };
}
