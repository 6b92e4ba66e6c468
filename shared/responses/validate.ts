/**
 * Checks on the few request fields the service itself reads. Everything else passes through untouched so new
 * Responses API fields work without a code change; Azure OpenAI validates those and its 400s pass through.
 */
import { badRequest } from '../platform/errors';
import { getConfig } from '../platform/config';

type Body = Record<string, unknown>;

function optionalType(body: Body, field: string, type: 'string' | 'boolean' | 'object' | 'number'): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  const actual = Array.isArray(value) ? 'array' : typeof value;
  if (actual !== type)
    throw badRequest(`'${field}' must be a ${type}; got ${actual}.`, field, 'invalid_type');
}

function optionalArray(body: Body, field: string): unknown[] | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value))
    throw badRequest(`'${field}' must be an array; got ${typeof value}.`, field, 'invalid_type');
  return value as unknown[];
}

/** `model` defaults to the chat deployment and must be one of the allowed deployments. */
export function resolveModel(body: Body): string {
  optionalType(body, 'model', 'string');
  const { chatDeployment, allowedDeployments } = getConfig();
  const model = (body.model as string | undefined) ?? chatDeployment;
  if (!allowedDeployments.includes(model)) {
    throw badRequest(
      `Deployment '${model}' is not available through this service. Use one of: ${allowedDeployments.join(', ')}.`,
      'model',
      'model_not_allowed',
    );
  }
  return model;
}

export interface CreateFields {
  model: string;
  stream: boolean;
  background: boolean;
  previousResponseId?: string;
  tools: { type: string }[];
}

const RESPONSE_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function previousResponseId(body: Body): string | undefined {
  optionalType(body, 'previous_response_id', 'string');
  const id = body.previous_response_id as string | undefined;
  if (id !== undefined && !RESPONSE_ID.test(id)) {
    throw badRequest(
      `'previous_response_id' is not a valid response id.`,
      'previous_response_id',
      'invalid_id',
    );
  }
  return id;
}

/** Validates a create body's service-read fields and returns them. */
export function validateCreate(body: Body): CreateFields {
  optionalType(body, 'stream', 'boolean');
  optionalType(body, 'background', 'boolean');
  optionalType(body, 'store', 'boolean');
  optionalType(body, 'metadata', 'object');
  optionalType(body, 'instructions', 'string');
  const input = body.input;
  if (input !== undefined && typeof input !== 'string' && !Array.isArray(input)) {
    throw badRequest(`'input' must be a string or an array of input items.`, 'input', 'invalid_type');
  }
  const tools = optionalArray(body, 'tools') ?? [];
  tools.forEach((tool, i) => {
    if (typeof tool !== 'object' || tool === null || typeof (tool as { type?: unknown }).type !== 'string') {
      throw badRequest(
        `'tools[${i}]' must be an object with a string 'type'.`,
        `tools[${i}]`,
        'invalid_type',
      );
    }
  });
  return {
    model: resolveModel(body),
    stream: body.stream === true,
    background: body.background === true,
    previousResponseId: previousResponseId(body),
    tools: tools as { type: string }[],
  };
}
