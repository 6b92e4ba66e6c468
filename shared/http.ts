/** Small HTTP helpers shared by the handlers: bounded body reading, JSON parsing, JSON answers. */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { badRequest, payloadTooLarge } from './errors';
import { getConfig } from './config';

/**
 * Reads the whole request body, refusing it with 413 as soon as it grows past `limit` bytes (default
 * MAX_REQUEST_BYTES), so a huge body never sits in memory whole.
 */
export async function readBody(request: HttpRequest, limit = getConfig().maxRequestBytes): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limit) throw payloadTooLarge(limit);
  if (!request.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw payloadTooLarge(limit);
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/** Reads and parses a JSON object body; anything else is a 400 that says what was wrong. */
export async function readJsonObject(
  request: HttpRequest,
): Promise<{ body: Record<string, unknown>; raw: Buffer }> {
  const raw = await readBody(request);
  if (raw.length === 0)
    throw badRequest('The request body is empty; send a JSON object.', null, 'invalid_json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw badRequest(`The request body is not valid JSON: ${(e as Error).message}`, null, 'invalid_json');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('The request body must be a JSON object.', null, 'invalid_json');
  }
  return { body: parsed as Record<string, unknown>, raw };
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'content-type': 'application/json', ...headers } };
}

/** Query values given either as `name` or `name[]` (the OpenAI SDK sends arrays as `include[]=a&include[]=b`). */
export function queryList(request: HttpRequest, name: string): string[] {
  return [...request.query.getAll(name), ...request.query.getAll(`${name}[]`)];
}

const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

/** Ids in routes are opaque tokens; anything else (path tricks, huge strings) is refused before any lookup. */
export function routeId(request: HttpRequest, name: string): string {
  const value = request.params[name] ?? '';
  if (!ID_PATTERN.test(value)) throw badRequest(`'${name}' is not a valid id.`, name, 'invalid_id');
  return value;
}
