/** Reading a blob trigger's input and metadata (as the Functions host and the local host deliver them). */
import { createHash } from 'node:crypto';
import type { BlobDelivery } from './ingest';

type Metadata = Record<string, unknown> | undefined;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

/** A property of the camel-cased trigger metadata, tolerating the host's original casing too. */
function prop(obj: unknown, ...keys: string[]): unknown {
  if (!obj || typeof obj !== 'object') return undefined;
  for (const key of keys) {
    const value = (obj as Record<string, unknown>)[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

/**
 * The delivery for `documents/{name}`: blob name (from `blobTrigger`, else the `{name}` value), ETag and
 * last-modified time from `properties`, and the bytes. The bytes are used as delivered, not copied. Without an
 * ETag (never seen from the host) a content hash stands in, so idempotency still holds.
 */
export function deliveryFromTrigger(
  input: unknown,
  triggerMetadata: Metadata,
  containerName: string,
): BlobDelivery {
  let data: Buffer;
  if (Buffer.isBuffer(input)) data = input;
  else if (input instanceof Uint8Array) data = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  else if (typeof input === 'string') data = Buffer.from(input, 'utf8');
  else data = Buffer.alloc(0);

  const trigger = str(prop(triggerMetadata, 'blobTrigger', 'BlobTrigger'));
  const prefix = `${containerName}/`;
  const name = trigger?.startsWith(prefix)
    ? trigger.slice(prefix.length)
    : (str(prop(triggerMetadata, 'name')) ?? '');
  const properties = prop(triggerMetadata, 'properties', 'Properties');
  const etag =
    str(prop(properties, 'eTag', 'ETag', 'etag')) ??
    `"sha256-${createHash('sha256').update(data).digest('hex')}"`;
  const modified = str(prop(properties, 'lastModified', 'LastModified'));
  const lastModified = modified ? Date.parse(modified) : NaN;
  return {
    name,
    data,
    etag,
    lastModified: Number.isFinite(lastModified) ? lastModified : 0,
    bytes: data.byteLength,
  };
}
