/** What the create paths hand the usage ledger (shared/usage/ledger.ts). */
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { getOpenAI } from '../platform/clients';
import { isUpstreamError } from '../platform/errors';
import { entryOf, type UsageEntry, type UsageKind } from '../usage/ledger';
import { isTerminalResponse } from './upstream';

/** The ledger entry of a response the service got back (`deployment`: the deployment it was sent to). */
export function usageOf(caller: Caller, deployment: string, response: Response, kind: UsageKind): UsageEntry {
  return entryOf(response, caller.id, deployment, kind);
}

/**
 * For a foreground stream that ended without a terminal event (cut, upstream `error` alone, the caller left):
 * reads the response back once upstream has stopped it, for the usage it reports then. Still running: throws,
 * and the ledger's retry asks again later. Gone upstream: nothing to record.
 */
export function usageReadBack(
  caller: Caller,
  deployment: string,
  responseId: string,
): () => Promise<UsageEntry | undefined> {
  return async () => {
    let response: Response;
    try {
      response = await getOpenAI().responses.retrieve(responseId, undefined, {
        maxRetries: 0,
        timeout: 10_000,
      });
    } catch (e) {
      if (isUpstreamError(e) && e.status === 404) return undefined;
      throw e;
    }
    if (!isTerminalResponse(response)) throw new Error(`response ${responseId} is still ${response.status}`);
    return usageOf(caller, deployment, response, 'stream');
  };
}
