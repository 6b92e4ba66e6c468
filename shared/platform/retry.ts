/**
 * Retrying an upstream call that Azure OpenAI refused with 429. A 429 means nothing was created, so retrying it
 * is always safe, unlike a 5xx or a timeout, which may hide a created response or file; those are left to the
 * caller (an Idempotency-Key, or the platform's retry of a whole blob delivery that resumes from its claim).
 */
import { getConfig } from './config';
import { isUpstreamError } from './errors';
import { retryAfterMs } from './scheduling/backoff';
import { setTimeout as sleep } from 'node:timers/promises';

/** Longest wait between two attempts: a request is waiting. */
const MAX_WAIT_MS = 10_000;

/** Runs `run`, again after each 429 (honouring `retry-after-ms`/`retry-after`), at most AZURE_OPENAI_MAX_RETRIES times. */
export async function retryOn429<T>(run: () => Promise<T>): Promise<T> {
  const maxRetries = getConfig().openaiMaxRetries;
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (e) {
      if (!isUpstreamError(e) || e.status !== 429 || attempt >= maxRetries) throw e;
      const wait = retryAfterMs(e.headers) ?? 500 * 2 ** attempt;
      await sleep(Math.min(wait, MAX_WAIT_MS));
    }
  }
}
