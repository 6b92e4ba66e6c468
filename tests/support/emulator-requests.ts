/**
 * Reads the emulator's request log (`GET /_emulator/requests`, tools/emulator/README.md): what a caller, usually
 * the gateway, sent upstream. Tests assert bodies and headers with it instead of the emulator's answers.
 *
 * Namespaces keep parallel tests apart: a request is filed under its `x-emulator-namespace` header, else its
 * JSON body's `metadata.emulator_namespace`, else `namespaceOfKey(<api key it used>)`.
 */
import type { LoggedRequest } from '../../tools/emulator/request-log';
export { namespaceOfKey, NAMESPACE_HEADER } from '../../tools/emulator/request-log';
export type { LoggedRequest } from '../../tools/emulator/request-log';

export interface RequestLogQuery {
  namespace?: string;
  /** HTTP method, e.g. `POST`. */
  method?: string;
  /** Route template (`/responses/{id}`) or the exact path received (`/openai/v1/responses/resp_1`). */
  route?: string;
  /** Only requests logged after this `seq`. */
  since?: number;
  /** The emulator's api key (default `emulator-key`). */
  apiKey?: string;
}

function urlOf(emulatorUrl: string, query: RequestLogQuery): string {
  const url = new URL('/_emulator/requests', emulatorUrl);
  for (const name of ['namespace', 'method', 'route', 'since'] as const) {
    const value = query[name];
    if (value !== undefined) url.searchParams.set(name, String(value));
  }
  return url.toString();
}

/** The logged requests matching `query`, oldest first. */
export async function readEmulatorRequests(
  emulatorUrl: string,
  query: RequestLogQuery = {},
): Promise<LoggedRequest[]> {
  const res = await fetch(urlOf(emulatorUrl, query), {
    headers: { 'api-key': query.apiKey ?? 'emulator-key' },
  });
  if (!res.ok) throw new Error(`GET /_emulator/requests: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { requests: LoggedRequest[] }).requests;
}

/** Forgets the requests of `query.namespace` (every request without one). */
export async function clearEmulatorRequests(
  emulatorUrl: string,
  query: Pick<RequestLogQuery, 'namespace' | 'apiKey'> = {},
): Promise<void> {
  const url = new URL('/_emulator/requests', emulatorUrl);
  if (query.namespace !== undefined) url.searchParams.set('namespace', query.namespace);
  const res = await fetch(url, { method: 'DELETE', headers: { 'api-key': query.apiKey ?? 'emulator-key' } });
  if (!res.ok) throw new Error(`DELETE /_emulator/requests: ${res.status} ${await res.text()}`);
}
