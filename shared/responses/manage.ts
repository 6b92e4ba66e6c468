/** Ending a response the caller holds: cancel (background responses) and delete (everything kept of it). */
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { responseNotFound } from '../callers/ownership';
import { deleteImages } from '../files/images';
import { deleteJob, recordCancel } from '../jobs/api';
import { getOpenAI } from '../platform/clients';
import { isUpstreamError } from '../platform/errors';
import type { Log } from '../platform/log';
import { openResponseId, sealIds } from './ids';
import { notFoundIfGone } from './upstream';

export async function cancelResponse(caller: Caller, id: string, log: Log): Promise<Response> {
  const upstreamId = openResponseId(caller, id);
  const response = await notFoundIfGone(id, () => getOpenAI().responses.cancel(upstreamId));
  await recordCancel(upstreamId, response, log);
  return sealIds(caller, response);
}

export async function deleteResponse(
  caller: Caller,
  id: string,
): Promise<{ id: string; object: string; deleted: boolean }> {
  const upstreamId = openResponseId(caller, id);
  let deleted = true;
  try {
    // The SDK's delete() resolves to void; the raw body is Azure's `{ id, object, deleted }`.
    const raw = await getOpenAI().responses.delete(upstreamId).asResponse();
    const text = await raw.text();
    if (text) deleted = (JSON.parse(text) as { deleted?: boolean }).deleted ?? true;
  } catch (e) {
    if (!(isUpstreamError(e) && e.status === 404)) throw e;
    // Already gone upstream (deleted before, or expired): remove what we kept of it, and say it is not there.
    await Promise.all([deleteImages(upstreamId), deleteJob(upstreamId)]);
    throw responseNotFound(id);
  }
  await Promise.all([deleteImages(upstreamId), deleteJob(upstreamId)]);
  return { id, object: 'response', deleted };
}
