/**
 * How the responses feature talks to Azure OpenAI: which failures a create may retry, how upstream errors are
 * named, and what is logged of each call.
 */
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { responseNotFound } from '../callers/ownership';
import { getConfig } from '../platform/config';
import { fromUpstream, isUpstreamError } from '../platform/errors';
import type { Log } from '../platform/log';
import { retryOn429 } from '../platform/retry';

const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'incomplete', 'expired']);

/** Whether an upstream response has reached an end state. */
export const isTerminalResponse = (response: Response): boolean => TERMINAL.has(response.status ?? '');

/**
 * The SDK retries 429/5xx on its own. A 429 means nothing was created, so retrying it is always safe; a 5xx
 * or timeout may hide a created response, so a create is retried on those only behind an Idempotency-Key.
 */
export async function upstreamCreate<T>(
  deployment: string,
  run: (maxRetries: number) => Promise<T>,
  idempotent: boolean,
): Promise<T> {
  if (idempotent) return withDeployment(deployment, () => run(getConfig().openaiMaxRetries));
  return withDeployment(deployment, () => retryOn429(() => run(0)));
}

/** Upstream errors named with the deployment they concern (a 404 DeploymentNotFound says which one). */
export async function withDeployment<T>(deployment: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    throw isUpstreamError(e) && e.status !== undefined ? fromUpstream(e, deployment) : e;
  }
}

/** Upstream 404 for an id we own means it is gone there (deleted, expired): same 404 as for unknown ids. */
export async function notFoundIfGone<T>(id: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) throw responseNotFound(id);
    throw e;
  }
}

/** One log line per answered call. Identifiers and numbers only: never prompt text, file contents, keys or tokens. */
export function logResponse(
  log: Log,
  what: string,
  caller: Caller,
  fields: { id?: string; deployment?: string; status?: string; started: number; usage?: Response['usage'] },
): void {
  log.log(
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
