/**
 * Validation of a create request as the service does it: the official CreateResponse schema (lenient flavour,
 * see schemas/README.md) plus the rules the schema cannot express (unknown parameters, model capabilities,
 * metadata limits, mutually exclusive fields). Errors carry OpenAI's wording, `param` and `code`.
 */
import type { ErrorObject } from 'ajv';
import { badRequest, type EmulatorError } from './errors';
import { isReasoningDeployment } from './options';
import { schemaDefs, validatorFor } from './schemas';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

let topLevel: Set<string> | undefined;

/** Every property CreateResponse declares, through its `allOf` parts. */
function createProperties(): Set<string> {
  if (topLevel) return topLevel;
  const defs = schemaDefs('lenient');
  const out = new Set<string>();
  const walk = (schema: unknown): void => {
    if (!isObject(schema)) return;
    if (typeof schema.$ref === 'string') walk(defs[schema.$ref.split('/').pop() ?? '']);
    if (isObject(schema.properties)) for (const name of Object.keys(schema.properties)) out.add(name);
    if (Array.isArray(schema.allOf)) schema.allOf.forEach(walk);
  };
  walk(defs.CreateResponse);
  topLevel = out;
  return out;
}

/** `/include/0/x` → `include[0].x`, as OpenAI names a parameter. */
export function paramOf(instancePath: string): string {
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((out, seg) => (/^\d+$/.test(seg) ? `${out}[${seg}]` : out ? `${out}.${seg}` : seg), '');
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'decimal';
  return typeof value;
}

function valueAt(root: unknown, instancePath: string): unknown {
  let node = root;
  for (const seg of instancePath.split('/').slice(1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Json)[seg.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node;
}

const TYPE_WORDS: Record<string, string> = {
  number: 'a decimal',
  integer: 'an integer',
  string: 'a string',
  boolean: 'a boolean',
  object: 'an object',
  array: 'an array',
};

/**
 * The one ajv error to report. Items are unions told apart by `type`: a branch whose `type` did not match says
 * nothing, so those errors are dropped when another branch got further; then the deepest error wins,
 * preferring a concrete rule over "must be null" and anyOf noise.
 */
function pickError(errors: ErrorObject[]): ErrorObject | undefined {
  const isTypeMismatch = (e: ErrorObject) =>
    (e.keyword === 'enum' || e.keyword === 'const') && e.instancePath.endsWith('/type');
  const informative = errors.filter(
    (e) =>
      !isTypeMismatch(e) ||
      !errors.some(
        (o) =>
          !isTypeMismatch(o) &&
          o.keyword !== 'anyOf' &&
          o.keyword !== 'oneOf' &&
          o.instancePath.startsWith(e.instancePath.slice(0, -'/type'.length)),
      ),
  );
  const depth = (e: ErrorObject) => e.instancePath.split('/').length;
  const weight = (e: ErrorObject) =>
    e.keyword === 'anyOf' || e.keyword === 'oneOf'
      ? 3
      : e.keyword === 'type' && (e.params as { type?: string }).type === 'null'
        ? 2
        : 0;
  return [...informative].sort((a, b) => depth(b) - depth(a) || weight(a) - weight(b))[0];
}

/** An ajv error in OpenAI's words. */
export function errorFromAjv(e: ErrorObject, body: unknown): EmulatorError {
  const param = paramOf(e.instancePath);
  const value = valueAt(body, e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type': {
      const want = String(params.type);
      return badRequest(
        `Invalid type for '${param}': expected ${TYPE_WORDS[want] ?? want}, but got ${TYPE_WORDS[jsonType(value)] ?? jsonType(value)} instead.`,
        param,
        'invalid_type',
      );
    }
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum': {
      const kind =
        (e.parentSchema as { type?: unknown } | undefined)?.type === 'integer' ? 'integer' : 'decimal';
      const below = e.keyword.toLowerCase().includes('min');
      return badRequest(
        `Invalid '${param}': ${kind} ${below ? 'below minimum' : 'above maximum'} value. Expected a value ${String(params.comparison)} ${String(params.limit)}, but got ${String(value)} instead.`,
        param,
        `${kind}_${below ? 'below_min' : 'above_max'}_value`,
      );
    }
    case 'enum':
    case 'const': {
      const allowed = (params.allowedValues as unknown[] | undefined) ?? [params.allowedValue];
      return badRequest(
        `Invalid value: '${String(value)}'. Supported values are: ${allowed.map((v) => `'${String(v)}'`).join(', ')}.`,
        param,
        'invalid_value',
      );
    }
    case 'required': {
      const missing = String(params.missingProperty);
      const full = param ? `${param}.${missing}` : missing;
      return badRequest(`Missing required parameter: '${full}'.`, full, 'missing_required_parameter');
    }
    case 'additionalProperties': {
      const extra = String(params.additionalProperty);
      const full = param ? `${param}.${extra}` : extra;
      return badRequest(`Unknown parameter: '${full}'.`, full, 'unknown_parameter');
    }
    case 'maxLength':
    case 'minLength':
    case 'maxItems':
    case 'minItems': {
      const what = e.keyword.endsWith('Length') ? 'string' : 'array';
      const long = e.keyword.startsWith('max');
      const size = what === 'string' ? String(value).length : Array.isArray(value) ? value.length : 0;
      return badRequest(
        `Invalid '${param}': ${what} too ${long ? 'long' : 'short'}. Expected ${what === 'string' ? 'a string' : 'an array'} with ${long ? 'maximum' : 'minimum'} length ${String(params.limit)}, but got ${what === 'string' ? 'a string' : 'an array'} with length ${size} instead.`,
        param,
        `${what}_${long ? 'above_max' : 'below_min'}_length`,
      );
    }
    default:
      return badRequest(
        `Invalid '${param || 'body'}': ${e.message ?? 'invalid value'}.`,
        param || null,
        'invalid_value',
      );
  }
}

/** Rules the schema does not state, checked first so their errors read as the service's do. */
function explicitChecks(body: Json, deployment: string): void {
  const known = createProperties();
  for (const key of Object.keys(body)) {
    if (!known.has(key)) throw badRequest(`Unknown parameter: '${key}'.`, key, 'unknown_parameter');
  }
  if (
    body.previous_response_id !== undefined &&
    body.previous_response_id !== null &&
    body.conversation !== undefined &&
    body.conversation !== null
  ) {
    throw badRequest(
      "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.",
      'conversation',
      'mutually_exclusive_parameters',
    );
  }
  if (isObject(body.metadata)) {
    const entries = Object.entries(body.metadata);
    if (entries.length > 16) {
      throw badRequest(
        `Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with ${entries.length} properties instead.`,
        'metadata',
        'object_above_max_properties',
      );
    }
    for (const [key, value] of entries) {
      if (key.length > 64) {
        throw badRequest(
          `Invalid 'metadata': string too long. Expected a key with maximum length 64, but got a key with length ${key.length} instead.`,
          'metadata',
          'string_above_max_length',
        );
      }
      if (typeof value === 'string' && value.length > 512) {
        throw badRequest(
          `Invalid 'metadata.${key}': string too long. Expected a string with maximum length 512, but got a string with length ${value.length} instead.`,
          `metadata.${key}`,
          'string_above_max_length',
        );
      }
    }
  }
  const text = isObject(body.text) ? body.text : undefined;
  const format = text && isObject(text.format) ? text.format : undefined;
  if (format?.type === 'json_schema') {
    if (typeof format.name !== 'string' || !format.name) {
      throw badRequest(
        "Missing required parameter: 'text.format.name'.",
        'text.format.name',
        'missing_required_parameter',
      );
    }
    if (!isObject(format.schema)) {
      throw badRequest(
        "Missing required parameter: 'text.format.schema'.",
        'text.format.schema',
        'missing_required_parameter',
      );
    }
  }
  const reasoningModel = isReasoningDeployment(deployment);
  if (!reasoningModel && isObject(body.reasoning)) {
    for (const field of ['effort', 'summary', 'generate_summary']) {
      if (body.reasoning[field] !== undefined && body.reasoning[field] !== null) {
        throw badRequest(
          `Unsupported parameter: 'reasoning.${field}' is not supported with this model.`,
          `reasoning.${field}`,
          'unsupported_parameter',
        );
      }
    }
  }
  if (reasoningModel) {
    for (const field of ['temperature', 'top_p']) {
      if (body[field] !== undefined && body[field] !== null && body[field] !== 1) {
        throw badRequest(
          `Unsupported parameter: '${field}' is not supported with this model.`,
          field,
          'unsupported_parameter',
        );
      }
    }
  }
}

/** Throws the service's 400 for the first thing wrong with a create body. */
export function validateCreate(body: Json, deployment: string): void {
  explicitChecks(body, deployment);
  const validate = validatorFor('CreateResponse', 'lenient');
  if (validate(body)) return;
  const picked = pickError(validate.errors ?? []);
  if (picked) throw errorFromAjv(picked, body);
}

/** Compiles what create validation needs, so the first request does not pay for it. */
export function warmValidation(): void {
  validatorFor('CreateResponse', 'lenient');
  createProperties();
}
