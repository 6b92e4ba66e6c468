/**
 * Errors the emulator answers, in the shapes Azure OpenAI uses, so the `openai` SDK raises its usual classes
 * (BadRequestError, AuthenticationError, NotFoundError, RateLimitError, InternalServerError, ...).
 */

/** OpenAI's error body; Azure adds `status` and, for content filtering, `innererror`. */
export interface ErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    status?: number;
    innererror?: { code: string; content_filter_result: ContentFilterResult };
  };
}

interface Severity {
  filtered: boolean;
  severity: 'safe' | 'low' | 'medium' | 'high';
}

/** Azure's per-category verdicts (`innererror.content_filter_result`). */
export interface ContentFilterResult {
  hate: Severity;
  jailbreak: { filtered: boolean; detected: boolean };
  self_harm: Severity;
  sexual: Severity;
  violence: Severity;
}

/** The verdicts of a filtered prompt or completion: violence at medium severity, the rest safe. */
export function filterResult(): ContentFilterResult {
  return {
    hate: { filtered: false, severity: 'safe' },
    jailbreak: { filtered: false, detected: false },
    self_harm: { filtered: false, severity: 'safe' },
    sexual: { filtered: false, severity: 'safe' },
    violence: { filtered: true, severity: 'medium' },
  };
}

/** Azure's 400 for a prompt its content filter blocked. */
export function promptFiltered(): EmulatorError {
  return new EmulatorError(400, {
    error: {
      message:
        "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
      type: 'invalid_request_error',
      param: 'prompt',
      code: 'content_filter',
      status: 400,
      innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: filterResult() },
    },
  });
}

export class EmulatorError extends Error {
  override readonly name = 'EmulatorError';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error.message);
  }
}

/** 400 `invalid_request_error`, as OpenAI answers a malformed request. */
export function badRequest(
  message: string,
  param: string | null = null,
  code: string | null = null,
): EmulatorError {
  return new EmulatorError(400, { error: { message, type: 'invalid_request_error', param, code } });
}

export function notFound(
  message: string,
  param: string | null = null,
  code: string | null = null,
): EmulatorError {
  return new EmulatorError(404, { error: { message, type: 'invalid_request_error', param, code } });
}

/** Azure's answer when `model` names no deployment of the resource. */
export function deploymentNotFound(): EmulatorError {
  return new EmulatorError(404, {
    error: {
      code: 'DeploymentNotFound',
      message:
        'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
      type: 'invalid_request_error',
      param: 'model',
    },
  });
}

/** Azure's answer to a missing or wrong key (its code is the string "401"), with OpenAI's four fields. */
export function unauthorized(): EmulatorError {
  return new EmulatorError(401, {
    error: {
      message:
        'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
      type: 'invalid_request_error',
      param: null,
      code: '401',
    },
  });
}

export function routeNotFound(): EmulatorError {
  return new EmulatorError(404, {
    error: { code: '404', message: 'Resource not found', type: 'invalid_request_error', param: null },
  });
}

export function methodNotAllowed(method: string): EmulatorError {
  return new EmulatorError(405, {
    error: {
      message: `Method ${method} is not allowed on this route.`,
      type: 'invalid_request_error',
      param: null,
      code: null,
    },
  });
}

export function payloadTooLarge(limit: number): EmulatorError {
  return new EmulatorError(413, {
    error: {
      message: `The request body is larger than the emulator's limit of ${limit} bytes.`,
      type: 'invalid_request_error',
      param: null,
      code: 'request_too_large',
    },
  });
}
