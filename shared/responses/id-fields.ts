/**
 * The one list of id-bearing fields of the Responses API, and the two walks that use it: `openRequestIds` proves
 * every id in a request is the caller's before anything goes upstream, `sealResponseIds` binds every id in what
 * comes back to the caller. Fail closed: a field that looks like an id (`id`, `…_id`, `…_ids`) but is not in the
 * list is refused on the way in, and sealed on the way out.
 *
 * The list follows the official OpenAPI description (CreateResponse, Response, ResponseStreamEvent,
 * ResponseItemList, CompactResource): every property named `id`, `*_id` or `*_ids`, plus `container` (a code
 * interpreter container given as an id), `conversation` and `prompt` (which hold ids), are below.
 */
import { MAX_UPSTREAM_ID_LENGTH, openId, sealId } from '../platform/sealed-ids';

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
const OPAQUE_KEYS = new Set([
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
const isOpaque = (key: string, value: unknown) =>
  OPAQUE_KEYS.has(key) || (key === 'annotations' && !Array.isArray(value));

/** Prompt variables: the names are the template's, the values text or input parts (whose file ids count). */
const VARIABLES_KEY = 'variables';

const fieldKind = new Map<string, IdKind>(Object.entries(ID_FIELDS));
const idKindByContainer = new Map<string, IdKind>(Object.entries(ID_BY_CONTAINER_KEY));
const WALKED_OBJECT_FIELDS = new Set(['container', 'conversation', 'prompt']);

const isIdShaped = (key: string) =>
  key === 'id' ||
  key === 'ids' ||
  key.endsWith('_id') ||
  key.endsWith('_ids') ||
  key.endsWith('Id') ||
  key.endsWith('Ids');

// Deeper than any body the API defines; a deliberately nested body must not exhaust the stack.
const MAX_DEPTH = 64;

export type IdRefusalReason = 'not_found' | 'not_allowed' | 'unknown_field' | 'invalid';

/**
 * An id the gateway refuses. Map it to the OpenAI-shaped error `{ error: { message, type, param, code } }` with
 * `status`. `not_found` is the answer for an id that does not open for this caller, identical whether it is
 * another caller's, tampered with, or made up.
 */
export class IdRefusal extends Error {
  override readonly name = 'IdRefusal';
  readonly type = 'invalid_request_error';
  constructor(
    readonly reason: IdRefusalReason,
    readonly status: number,
    readonly code: string,
    /** Path of the field as sent, e.g. `input[2].id`, `tools[0].vector_store_ids[1]`. */
    readonly param: string,
    message: string,
    readonly kind?: IdKind,
  ) {
    super(message);
  }
}

const NOT_FOUND: Record<'response' | 'item' | 'container' | 'file', { code: string; what: string }> = {
  response: { code: 'previous_response_not_found', what: 'Previous response' },
  item: { code: 'item_not_found', what: 'Item' },
  container: { code: 'container_not_found', what: 'Container' },
  file: { code: 'file_not_found', what: 'File' },
};

const SHARED_NAMES: Record<SharedIdKind, string> = {
  vector_store: 'vector store',
  conversation: 'conversation',
  prompt: 'prompt',
  skill: 'skill',
  mcp_tunnel: 'MCP tunnel',
};

const quote = (value: string) => `'${value.length > 200 ? `${value.slice(0, 200)}…` : value}'`;

function notFound(kind: IdKind, param: string, value: string): IdRefusal {
  const entry = NOT_FOUND[kind as keyof typeof NOT_FOUND] ?? NOT_FOUND.item;
  return new IdRefusal(
    'not_found',
    400,
    entry.code,
    param,
    `${entry.what} with id ${quote(value)} not found.`,
    kind,
  );
}

function notAllowed(kind: SharedIdKind, param: string): IdRefusal {
  const name = SHARED_NAMES[kind];
  return new IdRefusal(
    'not_allowed',
    400,
    'id_not_allowed',
    param,
    `'${param}' names a ${name} this service cannot vouch for, so it is not forwarded. Only ${name}s the operator shares (setting ${SHARED_ID_SETTINGS[kind]}) can be used.`,
    kind,
  );
}

function unknownField(param: string): IdRefusal {
  return new IdRefusal(
    'unknown_field',
    400,
    'unknown_id_field',
    param,
    `'${param}' looks like an id this service cannot check belongs to you, so it is not forwarded. Remove it.`,
  );
}

function invalidType(param: string, expected: string): IdRefusal {
  return new IdRefusal(
    'invalid',
    400,
    'invalid_type',
    param,
    `Invalid type for '${param}': expected ${expected}.`,
  );
}

export interface IdFieldOptions {
  /** Upstream ids of operator-shared resources that callers may name as they are (see SHARED_ID_SETTINGS). */
  readonly shared?: { readonly [K in SharedIdKind]?: ReadonlySet<string> };
  /**
   * `file_id` values of `input_file` parts in input messages that the service resolves itself, left as sent
   * (the `documents/<name>` references). Open ids before resolving those.
   */
  readonly isServiceFileRef?: (fileId: string) => boolean;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `path` segments (keys and array indices) as the `param` OpenAI errors use: `input[2].content[0].file_id`. */
function paramOf(path: readonly (string | number)[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out ? `.${segment}` : segment;
  }
  return out;
}

class RequestWalk {
  readonly path: (string | number)[] = [];
  constructor(
    readonly callerId: string,
    readonly options: IdFieldOptions,
  ) {}

  node(value: unknown, containerKey: string, depth: number): void {
    if (depth > MAX_DEPTH) {
      throw new IdRefusal(
        'invalid',
        400,
        'invalid_value',
        paramOf(this.path),
        `'${paramOf(this.path)}' is nested deeper than ${MAX_DEPTH} levels.`,
      );
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        if (typeof element !== 'object' || element === null) continue;
        this.path.push(i);
        this.node(element, containerKey, depth + 1);
        this.path.pop();
      }
    } else if (isObject(value)) {
      this.object(value, containerKey, depth);
    }
  }

  object(obj: Json, containerKey: string, depth: number): void {
    for (const key of Object.keys(obj)) {
      const value = obj[key];
      const kind = key === 'id' ? idKindByContainer.get(containerKey) : fieldKind.get(key);
      this.path.push(key);
      if (kind !== undefined) {
        this.field(obj, key, value, kind, depth);
      } else if (key === VARIABLES_KEY && isObject(value)) {
        this.variables(value, depth + 1);
      } else if (isIdShaped(key)) {
        if (value !== null && value !== undefined) throw unknownField(paramOf(this.path));
      } else if (typeof value === 'object' && value !== null && !isOpaque(key, value)) {
        this.node(value, key, depth + 1);
      }
      this.path.pop();
    }
  }

  variables(variables: Json, depth: number): void {
    for (const name of Object.keys(variables)) {
      const value = variables[name];
      if (!isObject(value)) continue;
      this.path.push(name);
      this.object(value, VARIABLES_KEY, depth + 1);
      this.path.pop();
    }
  }

  field(obj: Json, key: string, value: unknown, kind: IdKind, depth: number): void {
    if (value === null || value === undefined) return;
    const isolation = ID_KIND_ISOLATION[kind];
    if (isolation === 'public') return;
    if (typeof value === 'string') {
      obj[key] = this.id(value, kind, obj, key);
    } else if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const element: unknown = value[i];
        this.path.push(i);
        if (typeof element !== 'string') throw invalidType(paramOf(this.path), 'a string id');
        value[i] = this.id(element, kind, obj, key);
        this.path.pop();
      }
    } else if (isObject(value) && WALKED_OBJECT_FIELDS.has(key)) {
      this.object(value, key, depth + 1);
    } else {
      throw invalidType(paramOf(this.path), 'a string id');
    }
  }

  id(value: string, kind: IdKind, obj: Json, key: string): string {
    if (ID_KIND_ISOLATION[kind] === 'shared') {
      if (this.options.shared?.[kind as SharedIdKind]?.has(value)) return value;
      throw notAllowed(kind as SharedIdKind, paramOf(this.path));
    }
    const upstream = openId(this.callerId, value);
    if (upstream !== undefined) return upstream;
    if (
      key === 'file_id' &&
      obj.type === 'input_file' &&
      this.path[this.path.length - 3] === 'content' &&
      this.options.isServiceFileRef?.(value)
    ) {
      return value;
    }
    throw notFound(kind, paramOf(this.path), value);
  }
}

/**
 * Replaces, in place, every sealed id in a create / compact / input_tokens request body with its upstream id,
 * and returns the body. Throws IdRefusal for an id that does not open for `callerId` (answered as an unknown
 * id), a shared resource the options do not list, a field that looks like an id but is not in the list, or an
 * id field of the wrong type. Needs configureIdSealing() first.
 */
export function openRequestIds<T extends object>(callerId: string, body: T, options: IdFieldOptions = {}): T {
  const walk = new RequestWalk(callerId, options);
  if (isObject(body)) walk.object(body, '', 0);
  return body;
}

function sealString(callerId: string, value: string): string {
  // A value this service cannot seal (empty, longer than any upstream id) stays as it is: raw ids open nothing
  // on the way back in, so that fails closed without breaking a stream half way.
  if (value.length === 0 || value.length > MAX_UPSTREAM_ID_LENGTH) return value;
  return sealId(callerId, value);
}

function sealValue(callerId: string, obj: Json | unknown[], key: string | number, value: unknown): void {
  if (typeof value === 'string') {
    (obj as Record<string | number, unknown>)[key] = sealString(callerId, value);
  } else if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i];
      if (typeof element === 'string') value[i] = sealString(callerId, element);
    }
  }
}

function sealNode(callerId: string, value: unknown, containerKey: string, depth: number): void {
  if (depth > MAX_DEPTH) return;
  if (Array.isArray(value)) {
    for (const element of value) {
      if (typeof element === 'object' && element !== null)
        sealNode(callerId, element, containerKey, depth + 1);
    }
    return;
  }
  if (!isObject(value)) return;
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (field === null || field === undefined) continue;
    const kind = key === 'id' ? idKindByContainer.get(containerKey) : fieldKind.get(key);
    if (kind !== undefined) {
      if (ID_KIND_ISOLATION[kind] === 'sealed') sealValue(callerId, value, key, field);
      if (isObject(field)) sealNode(callerId, field, key, depth + 1);
    } else if (key === VARIABLES_KEY && isObject(field)) {
      for (const name of Object.keys(field)) sealNode(callerId, field[name], VARIABLES_KEY, depth + 2);
    } else if (isIdShaped(key)) {
      // `id` of a response, output item, list entry, file or compaction; and, failing closed, any id-shaped
      // field the list does not know yet (sealed, it still only opens for this caller).
      sealValue(callerId, value, key, field);
      if (typeof field === 'object') sealNode(callerId, field, key, depth + 1);
    } else if (typeof field === 'object' && !isOpaque(key, field)) {
      sealNode(callerId, field, key, depth + 1);
    }
  }
}

/**
 * Seals, in place, every id `callerId` will hold in `value` and returns it: a Response, a stream event, an
 * input-items or files list, a compaction result, a file object, a delete result. Shared and public ids (vector
 * stores, prompts, conversations, call ids) are left as they are. Copy first if the upstream ids are still needed
 * (for logs, storage). Needs configureIdSealing() first.
 */
export function sealResponseIds<T>(callerId: string, value: T): T {
  sealNode(callerId, value, '', 0);
  return value;
}

/**
 * Parses an operator list of shared ids (comma-separated upstream ids, e.g. SHARED_PROMPT_IDS). Throws with a
 * message naming `setting` for an entry that is not an id.
 */
export function parseSharedIds(value: string | undefined, setting: string): ReadonlySet<string> {
  const ids = new Set<string>();
  for (const raw of (value ?? '').split(',')) {
    const id = raw.trim();
    if (!id) continue;
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/.test(id)) {
      throw new Error(
        `${setting}: '${id.slice(0, 40)}' is not an id (letters, digits, '_', '-', '.', ':'; at most 128 characters).`,
      );
    }
    ids.add(id);
  }
  return ids;
}
