/**
 * Who is calling. Two sources of identity: gateway API keys (`Authorization: Bearer <key>` or `api-key: <key>`)
 * and Entra ID through App Service Authentication, whose `x-ms-client-principal*` headers are trusted only when
 * APP_SERVICE_AUTH_ENABLED says the platform sits in front (it strips client-sent copies). No identity: 401.
 */
import type { HttpRequest } from '@azure/functions';
import { callerForKey } from './keys';
import { getConfig } from '../platform/config';
import { unauthorized } from '../platform/errors';

export interface Caller {
  /** Stable id used to scope everything the caller owns: `key:<name>` or `entra:<object id>`. */
  readonly id: string;
  readonly source: 'key' | 'entra';
  /** Caller name for keys; principal name for Entra callers (for logs). */
  readonly name: string;
}

function presentedKey(request: HttpRequest): string | undefined {
  const apiKey = request.headers.get('api-key');
  if (apiKey) return apiKey.trim();
  const auth = request.headers.get('authorization');
  const match = auth ? /^Bearer\s+(.+)$/i.exec(auth.trim()) : null;
  return match?.[1];
}

interface ClientPrincipal {
  auth_typ?: string;
  claims?: { typ: string; val: string }[];
}

function entraCaller(request: HttpRequest): Caller | undefined {
  const encoded = request.headers.get('x-ms-client-principal');
  const headerId = request.headers.get('x-ms-client-principal-id');
  let objectId = headerId ?? undefined;
  let name = request.headers.get('x-ms-client-principal-name') ?? undefined;
  if (encoded) {
    try {
      const principal = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8')) as ClientPrincipal;
      const claim = (...types: string[]) => principal.claims?.find((c) => types.includes(c.typ))?.val;
      objectId ??= claim('http://schemas.microsoft.com/identity/claims/objectidentifier', 'oid');
      name ??= claim('name', 'appid', 'azp', 'preferred_username');
    } catch {
      return undefined;
    }
  }
  if (!objectId || !/^[A-Za-z0-9-]{1,64}$/.test(objectId)) return undefined;
  return { id: `entra:${objectId}`, source: 'entra', name: name ?? objectId };
}

/** The authenticated caller, or a 401 ApiError. */
export async function authenticate(request: HttpRequest): Promise<Caller> {
  // With App Service Authentication in front, a validated Entra token arrives as `Authorization: Bearer <jwt>`
  // plus the principal headers the platform adds; the principal wins so the JWT is not mistaken for a key.
  if (getConfig().appServiceAuth && request.headers.has('x-ms-client-principal-id')) {
    const caller = entraCaller(request);
    if (caller) return caller;
  }
  const key = presentedKey(request);
  if (key) {
    const caller = await callerForKey(key);
    if (caller) return { id: `key:${caller}`, source: 'key', name: caller };
    throw unauthorized('Invalid API key. Create one with `npm run keys -- create <caller>`.');
  }
  if (getConfig().appServiceAuth) {
    const caller = entraCaller(request);
    if (caller) return caller;
  }
  throw unauthorized(
    'Missing credentials: send a gateway API key as `Authorization: Bearer <key>` or `api-key: <key>`' +
      (getConfig().appServiceAuth ? ', or an Entra ID token.' : '.'),
  );
}

/**
 * The folder under which a caller's own blobs live in `documents/` (e.g. `key/local/`). Blobs outside every
 * caller's folder (dropped straight into storage) belong to no caller.
 */
export function callerBlobPrefix(caller: Caller): string {
  const [source, ...rest] = caller.id.split(':');
  return `${source}/${encodeURIComponent(rest.join(':'))}/`;
}
