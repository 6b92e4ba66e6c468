/** Reading a response the caller owns: retrieve (JSON or a resumed stream) and its input items. */
import type { Response, ResponseIncludable } from 'openai/resources/responses/responses';
import type { ResponseItemList } from 'openai/resources/responses/input-items';
import type { Caller } from '../callers/auth';
import { assertOwned } from '../callers/ownership';
import { storeImages } from '../files/images';
import { terminalResponseFromJob } from '../jobs/api';
import { getOpenAI } from '../platform/clients';
import type { Log } from '../platform/log';
import { relay } from './stream';
import { notFoundIfGone } from './upstream';

export interface RetrieveOptions {
  include: string[];
  stream: boolean;
  startingAfter?: number;
}

/** Retrieve: from the job record when the background job is finalized, else from upstream. */
export async function retrieveResponse(caller: Caller, id: string, include: string[]): Promise<Response> {
  const { background } = await assertOwned(caller, id);
  // Only background responses have job records; a synchronous one (background: false on its ownership record)
  // would pay a table read for a certain miss on every retrieve.
  if (include.length === 0 && background !== false) {
    const stored = await terminalResponseFromJob(id);
    if (stored) return stored;
  }
  return notFoundIfGone(id, () =>
    getOpenAI().responses.retrieve(id, { include: include as ResponseIncludable[], stream: false }),
  );
}

/** Resumes a stream (`GET ?stream=true&starting_after=N`). */
export async function retrieveResponseStream(
  caller: Caller,
  id: string,
  options: RetrieveOptions,
  signal: AbortSignal,
  log: Log,
): Promise<AsyncIterable<Uint8Array>> {
  const { background } = await assertOwned(caller, id);
  const stream = await notFoundIfGone(id, () =>
    getOpenAI().responses.retrieve(
      id,
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
    resumable: background !== false,
    signal,
    log,
    logFields: { caller: caller.id, responseId: id },
  });
}

export interface ListQuery {
  limit?: number;
  order?: 'asc' | 'desc';
  after?: string;
  before?: string;
  include: string[];
}

/** One page of the input items of a response the caller owns, in OpenAI's list shape. */
export async function listInputItems(
  caller: Caller,
  id: string,
  query: ListQuery,
): Promise<ResponseItemList> {
  await assertOwned(caller, id);
  const page = await notFoundIfGone(id, () =>
    getOpenAI().responses.inputItems.list(id, {
      limit: query.limit,
      order: query.order,
      after: query.after,
      include: query.include.length ? (query.include as ResponseIncludable[]) : undefined,
      // `before` is in Azure's and OpenAI's API reference, not in the SDK's parameter type.
      ...(query.before === undefined ? {} : { before: query.before }),
    }),
  );
  return {
    object: 'list',
    data: page.data,
    first_id: page.data[0]?.id ?? '',
    last_id: page.data.at(-1)?.id ?? '',
    has_more: page.has_more,
  };
}
