/** Small HTTP helpers shared by the handlers: bounded body reading, JSON parsing, JSON answers. */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { ApiError, badRequest, payloadTooLarge } from './errors';
import { getConfig } from './config';

/**
 * Bytes of an over-limit body read and thrown away before answering 413. Under `enableHttpStream` the host
 * forwards the body to the library's HTTP proxy; answering without reading it leaves the host writing into a
 * connection nobody reads, and the caller got an empty 204 or a reset instead of the 413 (measured with the
 * local host: bodies above ~200 KiB). Discarding keeps nothing in memory; past this bound the connection may drop.
 */
const DISCARD_MAX_BYTES = 128 * 1024 * 1024;

async function discardRest(iterator: AsyncIterator<Uint8Array>, alreadyRead: number): Promise<void> {
  let read = alreadyRead;
  while (read < DISCARD_MAX_BYTES) {
    const next = await iterator.next().catch(() => ({ done: true as const, value: undefined }));
    if (next.done) return;
    read += next.value.byteLength;
  }
}

/**
 * Reads the whole request body, refusing it with 413 as soon as it grows past `limit` bytes (default
 * MAX_REQUEST_BYTES), so a huge body never sits in memory whole.
 */
export async function readBody(request: HttpRequest, limit = getConfig().maxRequestBytes): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (!request.body) {
    if (declared > limit) throw payloadTooLarge(limit);
    return Buffer.alloc(0);
  }
  const iterator = (request.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  if (declared > limit) {
    await discardRest(iterator, 0);
    throw payloadTooLarge(limit);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await iterator.next();
    if (next.done) break;
    const chunk = next.value;
    size += chunk.byteLength;
    if (size > limit) {
      chunks.length = 0;
      await discardRest(iterator, size);
      throw payloadTooLarge(limit);
    }
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
  }
  return Buffer.concat(chunks, size);
}

/**
 * Deepest array/object nesting accepted in a JSON body. JSON.parse copes with any depth, but the body is sent on
 * with the SDK's JSON.stringify, which is recursive and overflows the stack a few thousand levels down (an opaque
 * 500). Nothing in the Responses API nests anywhere near this.
 */
export const MAX_JSON_DEPTH = 128;

/** True when `text` nests arrays/objects deeper than `max`. Linear; skips string contents with indexOf. */
export function jsonNestingExceeds(text: string, max = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Jump to the closing quote: one not preceded by an odd number of backslashes.
      for (;;) {
        const end = text.indexOf('"', i + 1);
        if (end < 0) return false; // unterminated: JSON.parse reports it
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
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
    const text = raw.toString('utf8');
    if (jsonNestingExceeds(text)) {
      throw badRequest(
        `The request body nests arrays or objects more than ${MAX_JSON_DEPTH} levels deep.`,
        null,
        'invalid_json',
      );
    }
    parsed = JSON.parse(text);
  } catch (e) {
    if (e instanceof ApiError) throw e;
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
