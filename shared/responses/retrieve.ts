/** Reading a response the caller holds: retrieve (JSON or a resumed stream) and its input items. */
import type { Response, ResponseIncludable } from 'openai/resources/responses/responses';
import type { ResponseItemList } from 'openai/resources/responses/input-items';
import type { Caller } from '../callers/auth';
import { responseNotFound } from '../callers/ownership';
import { openImage, storeImages } from '../files/images';
import { terminalResponseFromJob } from '../jobs/api';
import { getOpenAI } from '../platform/clients';
import { badRequest, isUpstreamError, notFound } from '../platform/errors';
import type { Log } from '../platform/log';
import { openItemId, openResponseId, sealIds } from './ids';
import { relay } from './stream';
import { notFoundIfGone } from './upstream';

export interface RetrieveOptions {
  include: string[];
  stream: boolean;
  startingAfter?: number;
}

/**
 * Retrieve. A synchronous response is read from upstream and nothing else (no storage round trip); a background
 * one answers from its job record once finalized, which says what the job says (a caller's cancel wins, an
 * expired job reads as cancelled) even where upstream says otherwise or no longer has it.
 */
export async function retrieveResponse(caller: Caller, id: string, include: string[]): Promise<Response> {
  const upstreamId = openResponseId(caller, id);
  let response: Response;
  try {
    response = await getOpenAI().responses.retrieve(upstreamId, {
      include: include as ResponseIncludable[],
      stream: false,
    });
  } catch (e) {
    if (!(isUpstreamError(e) && e.status === 404)) throw e;
    // Gone upstream: a finalized background job may still hold it.
    const stored = include.length === 0 ? await terminalResponseFromJob(upstreamId) : undefined;
    if (!stored) throw responseNotFound(id);
    return sealIds(caller, stored);
  }
  if (response.background && include.length === 0) {
    const stored = await terminalResponseFromJob(upstreamId);
    if (stored) return sealIds(caller, stored);
  }
  return sealIds(caller, response);
}

/** Resumes a stream (`GET ?stream=true&starting_after=N`). */
export async function retrieveResponseStream(
  caller: Caller,
  id: string,
  options: RetrieveOptions,
  signal: AbortSignal,
  log: Log,
): Promise<AsyncIterable<Uint8Array>> {
  const upstreamId = openResponseId(caller, id);
  const stream = await notFoundIfGone(id, () =>
    getOpenAI().responses.retrieve(
      upstreamId,
      {
        include: options.include as ResponseIncludable[],
        stream: true,
        starting_after: options.startingAfter,
      },
      { signal },
    ),
  );
  return relay(stream, {
    onEnded: async (response) => void (await storeImages(response)),
    seal: (event) => sealIds(caller, event),
    // Only background responses can be resumed upstream, and only they can be streamed again.
    resumable: true,
    signal,
    log,
    logFields: { caller: caller.id, responseId: upstreamId },
  });
}

export interface ListQuery {
  limit?: number;
  order?: 'asc' | 'desc';
  after?: string;
  before?: string;
  include: string[];
}

/** One page of the input items of a response the caller holds, in OpenAI's list shape. */
export async function listInputItems(
  caller: Caller,
  id: string,
  query: ListQuery,
): Promise<ResponseItemList> {
  const upstreamId = openResponseId(caller, id);
  // Cursors are item ids the caller was given; one that is not theirs is refused like a malformed one.
  const cursor = (value: string | undefined, name: string) => {
    if (value === undefined) return undefined;
    const opened = openItemId(caller, value);
    if (opened === undefined)
      throw badRequest(`'${name}' is not an item id of this response.`, name, 'invalid_id');
    return opened;
  };
  const after = cursor(query.after, 'after');
  const before = cursor(query.before, 'before');
  const page = await notFoundIfGone(id, () =>
    getOpenAI().responses.inputItems.list(upstreamId, {
      limit: query.limit,
      order: query.order,
      after,
      include: query.include.length ? (query.include as ResponseIncludable[]) : undefined,
      // `before` is in Azure's and OpenAI's API reference, not in the SDK's parameter type.
      ...(before === undefined ? {} : { before }),
    }),
  );
  return sealIds(caller, {
    object: 'list',
    data: page.data,
    first_id: page.data[0]?.id ?? '',
    last_id: page.data.at(-1)?.id ?? '',
    has_more: page.has_more,
  });
}

/** A generated image of a response the caller holds (`GET /responses/{id}/images/{item_id}`). */
export async function retrieveImage(caller: Caller, id: string, itemId: string) {
  const upstreamId = openResponseId(caller, id);
  const upstreamItemId = openItemId(caller, itemId);
  const image = upstreamItemId === undefined ? undefined : await openImage(upstreamId, upstreamItemId);
  if (!image) throw notFound(`No generated image '${itemId}' for response '${id}'.`, 'item_id');
  return image;
}
