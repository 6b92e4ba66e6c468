import { createRequire } from 'node:module';
import type * as Identity from '@azure/identity';
import type * as StorageBlob from '@azure/storage-blob';
import type { BlobServiceClient } from '@azure/storage-blob';
import { resolvePlaceholders } from './settings';

/**
 * Blob service clients by binding `connection` name, resolved like the host's storage extension: a connection
 * string in the setting itself (`UseDevelopmentStorage=true` included), or identity-based
 * `<connection>__blobServiceUri` / `<connection>__serviceUri` / `<connection>__accountName` with
 * DefaultAzureCredential. One client per connection for the host's lifetime.
 */
export class BlobClients {
  readonly #clients = new Map<string, BlobServiceClient>();

  get(connection: string): BlobServiceClient {
    const cached = this.#clients.get(connection);
    if (cached) return cached;
    const client = createClient(connection);
    this.#clients.set(connection, client);
    return client;
  }
}

function createClient(connection: string): BlobServiceClient {
  // Loaded on first use: the SDK costs a second or more of start-up on a busy machine, and most runs need no blobs.
  const { BlobServiceClient } = createRequire(__filename)('@azure/storage-blob') as typeof StorageBlob;
  const env = process.env;
  const value = env[connection] ?? env[`AzureWebJobs${connection}`];
  if (value) return BlobServiceClient.fromConnectionString(value);
  const uri =
    env[`${connection}__blobServiceUri`] ??
    env[`${connection}__serviceUri`] ??
    (env[`${connection}__accountName`]
      ? `https://${env[`${connection}__accountName`]}.blob.core.windows.net`
      : undefined);
  if (!uri) {
    throw new Error(
      `Storage connection "${connection}" is not configured: set the app setting ${connection} to a connection string ` +
        `(UseDevelopmentStorage=true for Azurite) or ${connection}__blobServiceUri for an identity-based connection.`,
    );
  }
  const { DefaultAzureCredential } = createRequire(__filename)('@azure/identity') as typeof Identity;
  return new BlobServiceClient(uri, new DefaultAzureCredential());
}

/**
 * A blob trigger's path pattern (`samples/{name}`, `in/{folder}/{file}.json`): the container, the literal blob
 * name prefix (for listing) and a matcher returning the `{...}` binding values for a blob name.
 */
export interface BlobPathPattern {
  container: string;
  prefix: string;
  match(blobName: string): Record<string, string> | undefined;
}

/** `%SETTING%` placeholders in the path are resolved first, as the host resolves binding expressions. */
export function parseBlobPath(path: string): BlobPathPattern {
  const trimmed = resolvePlaceholders(path).replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  const container = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const rest = slash < 0 ? '' : trimmed.slice(slash + 1);
  if (container.includes('{'))
    throw new Error(`Blob trigger path "${path}" must start with a literal container name.`);
  const names: string[] = [];
  let re = '^';
  let prefix: string | undefined;
  const tokenRe = /\{([^{}]+)\}/g;
  let last = 0;
  for (let m = tokenRe.exec(rest); m; m = tokenRe.exec(rest)) {
    const literal = rest.slice(last, m.index);
    prefix ??= literal;
    re += escape(literal) + '(.+?)';
    names.push(m[1]!);
    last = m.index + m[0].length;
  }
  const tail = rest.slice(last);
  prefix ??= rest === '' ? '' : tail;
  re += rest === '' ? '.+' : escape(tail);
  const regex = new RegExp(re + '$');
  return {
    container,
    prefix,
    match(blobName) {
      const m = regex.exec(blobName);
      if (!m) return undefined;
      const values: Record<string, string> = {};
      names.forEach((n, i) => (values[n] = m[i + 1]!));
      return values;
    },
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
