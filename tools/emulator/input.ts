import type {
  ResponseInputContent,
  ResponseInputMessageItem,
  ResponseItem,
  ResponseOutputMessage,
  ResponseOutputText,
  ResponseReasoningItem,
} from 'openai/resources/responses/responses';
import { badRequest } from './errors';
import { newId, type IdPrefix } from './ids';
import type { Sealer } from './sealed';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface InputDeps {
  sealer: Sealer;
  /** Resolves `item_reference` inputs against stored responses. */
  findItem(id: string): ResponseItem | undefined;
}

const ID_PREFIX: Record<string, IdPrefix> = {
  function_call: 'fc',
  function_call_output: 'fco',
  reasoning: 'rs',
  compaction: 'cmp',
  mcp_approval_response: 'mcpa',
  mcp_approval_request: 'mcpr',
  mcp_list_tools: 'mcpl',
  mcp_call: 'mcp',
  code_interpreter_call: 'ci',
  image_generation_call: 'ig',
};

function normalizeUserContent(content: unknown, param: string): ResponseInputContent[] {
  if (typeof content === 'string') return [{ type: 'input_text', text: content }];
  if (!Array.isArray(content))
    throw badRequest(`Invalid '${param}.content': expected a string or an array of content parts.`, param);
  return content.map((part, i) => {
    if (!isObject(part) || typeof part.type !== 'string') {
      throw badRequest(
        `Invalid '${param}.content[${i}]': expected an object with a 'type'.`,
        `${param}.content[${i}]`,
      );
    }
    // Assistant text sent back as a user/system part is tolerated by the service; keep it as text.
    if (part.type === 'output_text')
      return { type: 'input_text', text: typeof part.text === 'string' ? part.text : '' };
    if (!['input_text', 'input_image', 'input_file'].includes(part.type)) {
      throw badRequest(
        `Invalid value: '${part.type}'. Supported values are: 'input_text', 'input_image', and 'input_file'.`,
        `${param}.content[${i}].type`,
        'invalid_value',
      );
    }
    return part as unknown as ResponseInputContent;
  });
}

function normalizeAssistantContent(content: unknown, param: string): ResponseOutputMessage['content'] {
  // Stored as the service stores them: output_text parts always carry `annotations` and `logprobs`.
  if (typeof content === 'string')
    return [{ type: 'output_text', text: content, annotations: [], logprobs: [] }];
  if (!Array.isArray(content)) throw badRequest(`Invalid '${param}.content'.`, param);
  return content.map((part) => {
    const p = isObject(part) ? part : {};
    if (p.type === 'refusal')
      return { type: 'refusal', refusal: typeof p.refusal === 'string' ? p.refusal : '' };
    return {
      type: 'output_text',
      text: typeof p.text === 'string' ? p.text : '',
      annotations: (Array.isArray(p.annotations) ? p.annotations : []) as ResponseOutputText['annotations'],
      logprobs: (Array.isArray(p.logprobs) ? p.logprobs : []) as NonNullable<ResponseOutputText['logprobs']>,
    };
  });
}

/**
 * Turns the request's `input` (a string or items) into stored items with ids, as `input_items` lists them.
 * Encrypted reasoning/compaction content must have been sealed by this emulator (else 400).
 */
export function normalizeInput(input: unknown, deps: InputDeps, param = 'input'): ResponseItem[] {
  if (input === undefined || input === null) return [];
  if (typeof input === 'string') {
    const item: ResponseInputMessageItem = {
      id: newId('msg'),
      type: 'message',
      role: 'user',
      status: 'completed',
      content: [{ type: 'input_text', text: input }],
    };
    return [item];
  }
  if (!Array.isArray(input))
    throw badRequest(`Invalid '${param}': expected a string or an array of items.`, param);
  return input.map((raw, i) => normalizeItem(raw, deps, `${param}[${i}]`));
}

function normalizeItem(raw: unknown, deps: InputDeps, param: string): ResponseItem {
  if (!isObject(raw)) throw badRequest(`Invalid '${param}': expected an object.`, param);
  const type =
    typeof raw.type === 'string' ? raw.type : raw.role !== undefined ? 'message' : 'item_reference';
  const id = typeof raw.id === 'string' && raw.id ? raw.id : undefined;

  switch (type) {
    case 'message': {
      const role = raw.role;
      if (role === 'assistant') {
        const item: ResponseOutputMessage = {
          id: id ?? newId('msg'),
          type: 'message',
          role: 'assistant',
          status: 'completed',
          content: normalizeAssistantContent(raw.content, param),
        };
        return item;
      }
      if (role !== 'user' && role !== 'system' && role !== 'developer') {
        throw badRequest(
          `Invalid value: '${String(role)}'. Supported values are: 'assistant', 'system', 'developer', and 'user'.`,
          `${param}.role`,
          'invalid_value',
        );
      }
      const item: ResponseInputMessageItem = {
        id: id ?? newId('msg'),
        type: 'message',
        role,
        status: 'completed',
        content: normalizeUserContent(raw.content, param),
      };
      return item;
    }
    case 'item_reference': {
      if (!id)
        throw badRequest(
          `Missing required parameter: '${param}.id'.`,
          `${param}.id`,
          'missing_required_parameter',
        );
      const found = deps.findItem(id);
      if (!found) throw notFoundItem(id, param);
      return found;
    }
    case 'function_call_output': {
      if (typeof raw.call_id !== 'string') {
        throw badRequest(
          `Missing required parameter: '${param}.call_id'.`,
          `${param}.call_id`,
          'missing_required_parameter',
        );
      }
      return {
        id: id ?? newId('fco'),
        type: 'function_call_output',
        call_id: raw.call_id,
        output: (raw.output ?? '') as string,
        status: 'completed',
      };
    }
    case 'mcp_approval_response': {
      if (typeof raw.approval_request_id !== 'string') {
        throw badRequest(
          `Missing required parameter: '${param}.approval_request_id'.`,
          `${param}.approval_request_id`,
          'missing_required_parameter',
        );
      }
      return {
        id: id ?? newId('mcpa'),
        type: 'mcp_approval_response',
        approval_request_id: raw.approval_request_id,
        approve: raw.approve === true,
        reason: typeof raw.reason === 'string' ? raw.reason : null,
      };
    }
    case 'reasoning': {
      if (typeof raw.encrypted_content === 'string')
        deps.sealer.open(raw.encrypted_content, `${param}.encrypted_content`);
      const summary = (Array.isArray(raw.summary) ? raw.summary : []) as ResponseReasoningItem['summary'];
      return { ...raw, id: id ?? newId('rs'), type: 'reasoning', summary };
    }
    case 'compaction': {
      if (typeof raw.encrypted_content !== 'string') {
        throw badRequest(
          `Missing required parameter: '${param}.encrypted_content'.`,
          `${param}.encrypted_content`,
          'missing_required_parameter',
        );
      }
      const payload = deps.sealer.open(raw.encrypted_content, `${param}.encrypted_content`);
      if (payload.k !== 'compaction') {
        throw badRequest(
          'The encrypted content is not a compaction item.',
          `${param}.encrypted_content`,
          'invalid_encrypted_content',
        );
      }
      return { id: id ?? newId('cmp'), type: 'compaction', encrypted_content: raw.encrypted_content };
    }
    default: {
      const prefix = ID_PREFIX[type] ?? 'item';
      return { ...(raw as object), id: id ?? newId(prefix), type } as ResponseItem;
    }
  }
}

function notFoundItem(id: string, param: string) {
  return badRequest(`Item with id '${id}' not found.`, param, 'item_not_found');
}

/** Plain text of an item's text parts (`input_text`, `output_text`). */
export function textOf(item: ResponseItem): string {
  if (item.type !== 'message') return '';
  const parts: string[] = [];
  for (const part of item.content as Array<{ type: string; text?: unknown }>) {
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string')
      parts.push(part.text);
  }
  return parts.join(' ').trim();
}

export function isUserMessage(item: ResponseItem): item is ResponseInputMessageItem {
  return item.type === 'message' && item.role === 'user';
}
