/**
 * Caller-bound ids at the responses feature's edges: every id in a request is opened (proved the caller's and
 * turned back into the upstream id) before anything goes upstream, and every id in an answer is sealed for the
 * caller. Isolation is then a CPU check, the same for every id kind, with no storage round trip; see
 * docs/security.md.
 */
import type { Caller } from '../callers/auth';
import { responseNotFound } from '../callers/ownership';
import { ensureIdSealing, openForCaller } from '../platform/caller-ids';
import { getConfig } from '../platform/config';
import { ApiError } from '../platform/errors';
import { IdRefusal, openRequestIds, sealResponseIds, type IdFieldOptions } from './id-fields';

const NONE: ReadonlySet<string> = new Set();
/** `input_file` references to the caller's uploaded documents (resolved by documents-ref.ts, not ids). */
const DOCUMENT_REF = 'documents/';

function idOptions(): IdFieldOptions {
  const config = getConfig();
  return {
    shared: {
      prompt: config.sharedPromptIds ?? NONE,
      vector_store: config.sharedVectorStoreIds ?? NONE,
      conversation: config.sharedConversationIds ?? NONE,
      skill: config.sharedSkillIds ?? NONE,
      mcp_tunnel: config.sharedMcpTunnelIds ?? NONE,
    },
    isServiceFileRef: (fileId) => fileId.startsWith(DOCUMENT_REF),
  };
}

/**
 * Opens, in place, every id of a create, compact or input-token body. Another caller's id is answered exactly as
 * an unknown id; a shared resource not on the operator's list, or an id-shaped field the service does not know,
 * is a 400 naming the field.
 */
export function openBodyIds(caller: Caller, body: Record<string, unknown>): void {
  ensureIdSealing();
  try {
    openRequestIds(caller.id, body, idOptions());
  } catch (e) {
    if (e instanceof IdRefusal) throw new ApiError(e.status, e.message, e.type, e.code, e.param);
    throw e;
  }
}

/** The upstream id behind a response id in a route, or the same 404 as for an id that does not exist. */
export function openResponseId(caller: Caller, id: string, param = 'response_id'): string {
  const upstream = openForCaller(caller.id, id);
  if (upstream === undefined) throw responseNotFound(id, param);
  return upstream;
}

/** The upstream id behind an item id in a route, or undefined when it is not the caller's. */
export function openItemId(caller: Caller, id: string): string | undefined {
  return openForCaller(caller.id, id);
}

/** `value` with every id sealed for `caller`, in place: for objects nothing else reads afterwards. */
export function sealIds<T>(caller: Caller, value: T): T {
  ensureIdSealing();
  return sealResponseIds(caller.id, value);
}
