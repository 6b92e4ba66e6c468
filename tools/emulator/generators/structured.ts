/**
 * Structured outputs (`text.format: json_schema`): the answer is a minimal JSON instance valid against the
 * caller's schema, built deterministically (strings carry the user's words, so tests still see what was read).
 */
type Schema = Record<string, unknown>;

function isObject(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function resolveRef(ref: string, root: Schema): Schema {
  if (!ref.startsWith('#')) return {};
  let node: unknown = root;
  for (const seg of ref.slice(1).split('/').filter(Boolean)) {
    node = isObject(node) ? node[seg.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  return isObject(node) ? node : {};
}

function stringFor(schema: Schema, text: string): string {
  switch (schema.format) {
    case 'date-time':
      return '2025-01-01T00:00:00Z';
    case 'date':
      return '2025-01-01';
    case 'time':
      return '00:00:00';
    case 'email':
      return 'user@example.com';
    case 'uri':
    case 'url':
      return 'https://example.com/';
    case 'uuid':
      return '00000000-0000-4000-8000-000000000000';
    default:
      break;
  }
  let value = text || 'example';
  const max = typeof schema.maxLength === 'number' ? schema.maxLength : undefined;
  const min = typeof schema.minLength === 'number' ? schema.minLength : 0;
  if (max !== undefined) value = value.slice(0, max);
  if (value.length < min) value = value.padEnd(min, 'x');
  return value;
}

function numberFor(schema: Schema, integer: boolean): number {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const step = num(schema.multipleOf) ?? (integer ? 1 : undefined);
  const exclusiveMin = num(schema.exclusiveMinimum);
  const low = num(schema.minimum) ?? (exclusiveMin !== undefined ? exclusiveMin + (step ?? 1) : undefined);
  const high = num(schema.maximum) ?? num(schema.exclusiveMaximum);
  let value = low ?? (high !== undefined ? Math.min(0, high - (step ?? 1)) : 0);
  if (step) value = Math.ceil(value / step) * step;
  return value;
}

/** A minimal instance of `schema` (`root` resolves `$ref`s such as `#/$defs/Item`). */
export function instanceOf(
  schema: unknown,
  text: string,
  root: Schema = isObject(schema) ? schema : {},
  depth = 0,
): unknown {
  if (!isObject(schema) || depth > 32) return null;
  if (typeof schema.$ref === 'string')
    return instanceOf(resolveRef(schema.$ref, root), text, root, depth + 1);
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches) && branches.length > 0) {
      const list = branches as unknown[];
      const preferred = list.find((b) => !(isObject(b) && b.type === 'null')) ?? list[0];
      return instanceOf(preferred, text, root, depth + 1);
    }
  }
  if (Array.isArray(schema.allOf) && schema.allOf.length > 0) {
    const merged: Schema = { ...schema, allOf: undefined };
    for (const part of schema.allOf as unknown[]) {
      const p: unknown = isObject(part) && typeof part.$ref === 'string' ? resolveRef(part.$ref, root) : part;
      if (!isObject(p)) continue;
      merged.properties = {
        ...(isObject(merged.properties) ? merged.properties : {}),
        ...(isObject(p.properties) ? p.properties : {}),
      };
      merged.required = [
        ...(Array.isArray(merged.required) ? (merged.required as string[]) : []),
        ...(Array.isArray(p.required) ? (p.required as string[]) : []),
      ];
      merged.type ??= p.type;
    }
    delete merged.allOf;
    return instanceOf(merged, text, root, depth + 1);
  }
  const types = Array.isArray(schema.type) ? (schema.type as unknown[]) : [schema.type];
  const type =
    types.find((t) => t !== 'null') ?? types[0] ?? (isObject(schema.properties) ? 'object' : undefined);
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      const properties = isObject(schema.properties) ? schema.properties : {};
      const required = Array.isArray(schema.required) ? (schema.required as string[]) : [];
      for (const name of required) out[name] = instanceOf(properties[name] ?? {}, text, root, depth + 1);
      return out;
    }
    case 'array': {
      const count = typeof schema.minItems === 'number' ? schema.minItems : 0;
      const prefix = Array.isArray(schema.prefixItems) ? schema.prefixItems : [];
      return Array.from({ length: count }, (_, i) =>
        instanceOf(prefix[i] ?? schema.items ?? {}, text, root, depth + 1),
      );
    }
    case 'string':
      return stringFor(schema, text);
    case 'integer':
      return numberFor(schema, true);
    case 'number':
      return numberFor(schema, false);
    case 'boolean':
      return true;
    case 'null':
      return null;
    default:
      return text || {};
  }
}
