/**
 * The requests the emulator received, so tests can assert what a caller (the gateway) sent upstream: method,
 * path, headers (credentials redacted) and body, filed under a namespace so tests running in parallel against
 * one emulator read only their own. Read through `GET /_emulator/requests`.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** One received request, as `GET /_emulator/requests` lists it. */
export interface LoggedRequest {
  /** Order of arrival, from 1; pass the last one seen as `since` to read only newer requests. */
  seq: number;
  /** ISO time of arrival. */
  at: string;
  namespace: string;
  method: string;
  /** Path as received, e.g. `/openai/v1/responses` (no query). */
  path: string;
  /** Route template, e.g. `/responses/{id}` ('(unmatched)' when no route matched). */
  route: string;
  query: Record<string, string>;
  /** Lower-cased names; `api-key` and `authorization` are redacted. */
  headers: Record<string, string>;
  /** The parsed JSON body; null for bodiless or non-JSON (multipart) requests. */
  body: unknown;
  /** Body size in bytes as read (0 until read). */
  bodyBytes: number;
  /** Status the emulator answered (streams: 200 once the headers went out); null while in flight. */
  status: number | null;
}

export const NAMESPACE_HEADER = 'x-emulator-namespace';
const REDACTED = new Set(['api-key', 'authorization']);
/** Bodies larger than this are logged as `{ truncated: true }` to bound memory. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Which log a request in flight belongs to, so `readBody` can hand it the body. */
const logOf = new WeakMap<IncomingMessage, RequestLog>();

/** Called by `readBody` with what it read. */
export function noteBody(req: IncomingMessage, raw: Buffer): void {
  logOf.get(req)?.attachBody(req, raw);
}

export function namespaceOfKey(key: string | undefined): string {
  return key ? `key:${createHash('sha256').update(key).digest('hex').slice(0, 12)}` : 'anonymous';
}

export class RequestLog {
  private entries: LoggedRequest[] = [];
  private seq = 0;
  private readonly byRequest = new WeakMap<IncomingMessage, LoggedRequest>();

  constructor(private readonly max: number) {}

  /**
   * Logs a request on arrival. Its namespace is the `x-emulator-namespace` header, else (once the body is read)
   * a JSON body's `metadata.emulator_namespace`, else one derived from the api key (never the key itself).
   */
  record(req: IncomingMessage, url: URL, route: string, apiKey: string | undefined): LoggedRequest {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      headers[name] = REDACTED.has(name) ? '<redacted>' : Array.isArray(value) ? value.join(', ') : value;
    }
    const header = headers[NAMESPACE_HEADER];
    const entry: LoggedRequest = {
      seq: ++this.seq,
      at: new Date().toISOString(),
      namespace: header || namespaceOfKey(apiKey),
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      route,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: null,
      bodyBytes: 0,
      status: null,
    };
    this.entries.push(entry);
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
    this.byRequest.set(req, entry);
    logOf.set(req, this);
    return entry;
  }

  /** Adds the body once a handler has read it. */
  attachBody(req: IncomingMessage, raw: Buffer): void {
    const entry = this.byRequest.get(req);
    if (!entry) return;
    entry.bodyBytes = raw.length;
    if (raw.length > MAX_BODY_BYTES) {
      entry.body = { truncated: true };
      return;
    }
    if (!/json/i.test(entry.headers['content-type'] ?? 'application/json') || raw.length === 0) return;
    try {
      entry.body = JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      entry.body = null;
      return;
    }
    const metadata = (entry.body as { metadata?: { emulator_namespace?: unknown } } | null)?.metadata;
    if (!entry.headers[NAMESPACE_HEADER] && typeof metadata?.emulator_namespace === 'string') {
      entry.namespace = metadata.emulator_namespace;
    }
  }

  list(filter: { namespace?: string; method?: string; route?: string; since?: number }): LoggedRequest[] {
    return this.entries.filter(
      (e) =>
        (filter.namespace === undefined || e.namespace === filter.namespace) &&
        (filter.method === undefined || e.method === filter.method.toUpperCase()) &&
        (filter.route === undefined || e.route === filter.route || e.path === filter.route) &&
        (filter.since === undefined || e.seq > filter.since),
    );
  }

  /** Forgets a namespace's requests (all of them without one); answers how many were dropped. */
  clear(namespace?: string): number {
    const before = this.entries.length;
    this.entries = namespace === undefined ? [] : this.entries.filter((e) => e.namespace !== namespace);
    return before - this.entries.length;
  }
}
