/**
 * The one list of id-bearing fields of the Responses API (a declarative table, read by id-fields.ts), following
 * the official OpenAPI description (CreateResponse, Response, ResponseStreamEvent, ResponseItemList,
 * CompactResource): every property named `id`, `*_id` or `*_ids`, plus `container` (a code interpreter container
 * given as an id), `conversation` and `prompt` (which hold ids).
 */

/** What an id names. */
export type IdKind =
  | 'response'
  | 'item'
  | 'container'
  | 'file'
  | 'vector_store'
  | 'conversation'
  | 'prompt'
  | 'skill'
  | 'mcp_tunnel'
  | 'call'
  | 'safety_check'
  | 'connector';

/**
 * How each kind is isolated:
 * - `sealed`: state the caller created through this service; handed out sealed, accepted only when it opens for
 *   the caller (anything else is answered as an unknown id).
 * - `shared`: resources the service cannot vouch for (created outside it, shared by the operator); accepted only
 *   when listed in an operator setting, else a 400 naming the field. Echoed unchanged.
 * - `public`: not stored state (tool call ids the caller's own code matches up, safety check ids, connector
 *   names); passed through both ways.
 */
export const ID_KIND_ISOLATION = {
  response: 'sealed',
  item: 'sealed',
  container: 'sealed',
  file: 'sealed',
  vector_store: 'shared',
  conversation: 'shared',
  prompt: 'shared',
  skill: 'shared',
  mcp_tunnel: 'shared',
  call: 'public',
  safety_check: 'public',
  connector: 'public',
} as const satisfies Record<IdKind, 'sealed' | 'shared' | 'public'>;

export type SharedIdKind = {
  [K in IdKind]: (typeof ID_KIND_ISOLATION)[K] extends 'shared' ? K : never;
}[IdKind];

/** Operator settings that list the shared ids callers may name (comma-separated upstream ids). */
export const SHARED_ID_SETTINGS = {
  vector_store: 'SHARED_VECTOR_STORE_IDS',
  conversation: 'SHARED_CONVERSATION_IDS',
  prompt: 'SHARED_PROMPT_IDS',
  skill: 'SHARED_SKILL_IDS',
  mcp_tunnel: 'SHARED_MCP_TUNNEL_IDS',
} as const satisfies Record<SharedIdKind, string>;

/**
 * Every id-bearing field by name, wherever it occurs (request bodies, responses, items, stream events, lists).
 * A value may be one id, an array of ids, or (for `container`, `conversation` and `prompt`) an object that is
 * walked.
 */
export const ID_FIELDS = {
  previous_response_id: 'response', // create, compact, input_tokens; echoed on responses
  approval_request_id: 'item', // mcp_approval_response and mcp_call items name an mcp_approval_request item
  item_id: 'item', // stream events
  first_id: 'item', // lists
  last_id: 'item',
  container: 'container', // code_interpreter tool: a container id, or `{ type: "auto", file_ids }`
  container_id: 'container', // code_interpreter_call items, container_file_citation, container_reference
  file_id: 'file', // input_file, input_image, computer_screenshot, image mask, citations, file search results
  file_ids: 'file', // code interpreter / container_auto files
  vector_store_ids: 'vector_store', // file_search tool
  conversation: 'conversation', // create: a string id or `{ id }`
  prompt: 'prompt', // `{ id, version, variables }`; a bare string would be an id, so it is checked as one
  skill_id: 'skill', // skill_reference in container environments
  tunnel_id: 'mcp_tunnel', // mcp tool
  connector_id: 'connector', // mcp tool: one of a fixed set of connector names (connector_gmail…)
  call_id: 'call', // function/tool calls and their outputs: the caller's code pairs them
  caller_id: 'call', // programmatic tool calling: the call id of the program item
} as const satisfies Record<string, IdKind>;

/**
 * `id` means what the object holding it is, named here by the key under which that object sits. Anywhere else
 * an `id` is refused on the way in and sealed on the way out (responses, output items, list entries, files,
 * compactions, the item of a stream event).
 */
export const ID_BY_CONTAINER_KEY = {
  input: 'item', // every input item: item_reference, and items passed back for manual chaining
  prompt: 'prompt', // prompt.id
  conversation: 'conversation', // conversation.id
  pending_safety_checks: 'safety_check',
  acknowledged_safety_checks: 'safety_check',
} as const satisfies Record<string, IdKind>;

/**
 * Free-form data (the spec's `additionalProperties` objects): caller-defined JSON schemas, metadata, headers,
 * environment variables, file attributes, moderation scores. Never walked, so a property the caller named
 * `user_id` in a function's parameters is left alone: upstream treats these as data, not as references. An MCP
 * tool's `annotations` object (in mcp_list_tools items) is free-form too; output text `annotations` (an array
 * of citations) is walked.
 */
export const OPAQUE_KEYS = new Set([
  'metadata',
  'parameters',
  'output_schema',
  'schema',
  'input_schema',
  'headers',
  'env',
  'attributes',
  'categories',
  'category_scores',
  'category_applied_input_types',
]);
export const isOpaque = (key: string, value: unknown) =>
  OPAQUE_KEYS.has(key) || (key === 'annotations' && !Array.isArray(value));

/** Prompt variables: the names are the template's, the values text or input parts (whose file ids count). */
export const VARIABLES_KEY = 'variables';

export const fieldKind = new Map<string, IdKind>(Object.entries(ID_FIELDS));
export const idKindByContainer = new Map<string, IdKind>(Object.entries(ID_BY_CONTAINER_KEY));
export const WALKED_OBJECT_FIELDS = new Set(['container', 'conversation', 'prompt']);

export const isIdShaped = (key: string) =>
  key === 'id' ||
  key === 'ids' ||
  key.endsWith('_id') ||
  key.endsWith('_ids') ||
  key.endsWith('Id') ||
  key.endsWith('Ids');

// Deeper than any body the API defines; a deliberately nested body must not exhaust the stack.
export const MAX_DEPTH = 64;
