/** Ending a response the caller owns: cancel (background responses) and delete (everything kept of it). */
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { assertOwned, forgetOwnership } from '../callers/ownership';
import { deleteImages } from '../files/images';
import { deleteJob, recordCancel } from '../jobs/api';
import { getOpenAI } from '../platform/clients';
import { isUpstreamError } from '../platform/errors';
import type { Log } from '../platform/log';
import { notFoundIfGone } from './upstream';

export async function cancelResponse(caller: Caller, id: string, log: Log): Promise<Response> {
  await assertOwned(caller, id);
  const response = await notFoundIfGone(id, () => getOpenAI().responses.cancel(id));
  await recordCancel(id, response, log);
  return response;
}

export async function deleteResponse(
  caller: Caller,
  id: string,
): Promise<{ id: string; object: string; deleted: boolean }> {
  await assertOwned(caller, id);
  let result: { id: string; object: string; deleted: boolean } = { id, object: 'response', deleted: true };
  try {
    // The SDK's delete() resolves to void; the raw body is Azure's `{ id, object, deleted }`.
    const raw = await getOpenAI().responses.delete(id).asResponse();
    const text = await raw.text();
    if (text) result = JSON.parse(text) as typeof result;
  } catch (e) {
    // Already gone upstream: still remove our own records so nothing of it lingers.
    if (!(isUpstreamError(e) && e.status === 404)) throw e;
  }
  // Our records go before the ownership record: if one of these fails the caller can delete again.
  await Promise.all([deleteImages(id), deleteJob(id)]);
  await forgetOwnership(caller, id);
  return result;
}
