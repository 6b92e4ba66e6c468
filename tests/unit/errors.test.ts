import { describe, expect, it } from 'vitest';
import { ApiError, isConnectionLoss, toErrorResponse } from '../../shared/platform/errors';
import { ConfigError } from '../../shared/platform/config';
import { openaiErrors } from '../../shared/platform/sdk';

// The same (CommonJS) error classes the service's client throws.
const { APIConnectionError, APIConnectionTimeoutError, APIError } = openaiErrors();

const upstream = (status: number, body: object, headers: Record<string, string> = {}) =>
  APIError.generate(status, body, undefined, new Headers(headers));

describe('the error mapper', () => {
  it('keeps an expected error’s status and shape', () => {
    const res = toErrorResponse(new ApiError(409, 'busy', 'invalid_request_error', 'conflict'));
    expect(res.status).toBe(409);
    expect(res.jsonBody).toEqual({
      error: { message: 'busy', type: 'invalid_request_error', param: null, code: 'conflict' },
    });
  });

  it('keeps a 429 a 429 with a retry-after in seconds', () => {
    const res = toErrorResponse(
      upstream(429, { error: { message: 'slow down', code: '429' } }, { 'retry-after-ms': '2500' }),
    );
    expect(res.status).toBe(429);
    expect((res.headers as Record<string, string>)['retry-after']).toBe('3');
    // Azure's numeric code is answered with OpenAI's name for it.
    expect(res.jsonBody).toMatchObject({ error: { type: 'upstream_rate_limit_error', code: 'rate_limit_exceeded' } });
  });

  it('turns upstream auth failures into a 502 that points at the identity and hides the upstream text', () => {
    const res = toErrorResponse(
      upstream(401, { error: { message: 'Access denied due to invalid subscription key sk-123' } }),
    );
    expect(res.status).toBe(502);
    const message = (res.jsonBody as { error: { message: string } }).error.message;
    expect(message).toContain('Cognitive Services OpenAI User');
    expect(message).not.toContain('sk-123');
  });

  it('names the deployment when Azure says it does not exist', () => {
    const res = toErrorResponse(
      upstream(404, {
        error: {
          code: 'DeploymentNotFound',
          message: 'The API deployment for this resource does not exist.',
        },
      }),
      undefined,
      'gpt-x',
    );
    expect(res.status).toBe(404);
    expect((res.jsonBody as { error: { message: string } }).error.message).toContain("'gpt-x'");
  });

  it('passes a content-filter 400 through with its code', () => {
    const res = toErrorResponse(
      upstream(400, { error: { message: 'filtered', code: 'content_filter', param: 'input' } }),
    );
    expect(res.status).toBe(400);
    expect(res.jsonBody).toMatchObject({
      error: { code: 'content_filter', param: 'input', message: 'filtered' },
    });
  });

  it('keeps the filter result of a filtered prompt inside the error, as Azure sends it', () => {
    const innererror = {
      code: 'ResponsibleAIPolicyViolation',
      content_filter_result: { violence: { filtered: true, severity: 'medium' } },
    };
    const res = toErrorResponse(
      upstream(400, {
        error: {
          message: 'filtered',
          type: 'invalid_request_error',
          code: 'content_filter',
          param: 'prompt',
          innererror,
        },
      }),
    );
    expect(res.jsonBody).toEqual({
      error: {
        message: 'filtered',
        type: 'invalid_request_error',
        code: 'content_filter',
        param: 'prompt',
        innererror,
      },
    });
  });

  it('maps upstream 5xx to 502 and timeouts (ours, Azure 408 and 504) to 504', () => {
    expect(toErrorResponse(upstream(503, { error: { message: 'overloaded' } })).status).toBe(502);
    expect(toErrorResponse(new APIConnectionTimeoutError()).status).toBe(504);
    for (const [status, code] of [
      [408, 'Timeout'],
      [504, 'GatewayTimeout'],
    ] as const) {
      const res = toErrorResponse(upstream(status, { error: { message: 'late', code } }));
      expect(res.status).toBe(504);
      expect(res.jsonBody).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_timeout' } });
    }
  });

  it('tells a dropped upstream connection from a bug', () => {
    const terminated = Object.assign(new TypeError('terminated'), {
      cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
    });
    expect(isConnectionLoss(terminated)).toBe(true);
    expect(isConnectionLoss(new APIConnectionError({ message: 'Connection error.' }))).toBe(true);
    expect(isConnectionLoss(new TypeError('x is not a function'))).toBe(false);
    expect(isConnectionLoss(upstream(500, { error: { message: 'boom' } }))).toBe(false);
  });

  it('answers storage outages with 503 and the unexpected with an opaque 500', () => {
    expect(
      toErrorResponse(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).status,
    ).toBe(503);
    const res = toErrorResponse(new TypeError('secret detail'));
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.jsonBody)).not.toContain('secret detail');
    expect(toErrorResponse(new ConfigError('Setting X is required')).status).toBe(500);
  });
});
