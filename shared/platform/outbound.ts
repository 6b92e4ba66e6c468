/**
 * The guard for every outbound call to a caller-chosen URL (completion webhooks): only `https` to public
 * addresses, checked on the resolved address rather than the name, and the connection made to the very address
 * that was checked, so DNS rebinding cannot swap a private one in between. No redirects are followed and every
 * attempt has a bounded timeout.
 *
 * Local mode (`GATEWAY_MODE=local`, `npm start`) additionally allows loopback, over plain `http` too, so a
 * developer can receive webhooks on their machine. Azure never does.
 */
import type { LookupAddress } from 'node:dns';
import type { IncomingMessage, RequestOptions } from 'node:http';
import type { LookupFunction } from 'node:net';
import type ipaddr from 'ipaddr.js';
import { getConfig } from './config';
import { dnsModule, httpModule, httpsModule, ipaddrSdk } from './sdk';

/** Ranges of special-purpose addresses refused for outbound calls, with the reason given back. */
const REFUSED_REASONS: Record<string, string> = {
  unspecified: 'an unspecified address (0.0.0.0/8, ::)',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address (169.254.0.0/16, fe80::/10)',
  loopback: 'a loopback address (127.0.0.0/8, ::1)',
  carrierGradeNat: 'a carrier-grade NAT address (100.64.0.0/10)',
  private: 'a private address (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)',
  uniqueLocal: 'a unique-local address (fc00::/7)',
  reserved: 'a reserved or documentation address',
};

/**
 * Azure platform endpoints that are "public" by range but reach the host: the instance metadata service
 * (169.254.169.254, also link-local) and the WireServer (168.63.129.16, documented at
 * https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16).
 */
const PLATFORM_ADDRESSES: Record<string, string> = {
  '169.254.169.254': 'the cloud instance metadata address',
  '168.63.129.16': 'the Azure platform (WireServer) address',
};

export type AddressClass = { public: true } | { public: false; loopback: boolean; reason: string };

/**
 * Classifies one IP address (v4, v6 or IPv4-mapped v6). Only global unicast addresses are public; every special
 * range ipaddr.js knows (private, loopback, link-local, NAT64, 6to4, Teredo, ...) is refused.
 */
export function classifyAddress(address: string): AddressClass {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // `process` turns an IPv4-mapped IPv6 address (::ffff:10.0.0.1) into the IPv4 address it carries.
    parsed = ipaddrSdk().process(address.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  } catch {
    return { public: false, loopback: false, reason: `'${address}' is not an IP address` };
  }
  const normalized = parsed.toString();
  const platform = PLATFORM_ADDRESSES[normalized];
  if (platform) return { public: false, loopback: false, reason: `${normalized} is ${platform}` };
  const range = parsed.range();
  if (range === 'unicast') return { public: true };
  const reason = REFUSED_REASONS[range] ?? `a special-purpose address (${range})`;
  return { public: false, loopback: range === 'loopback', reason: `${normalized} is ${reason}` };
}

/** May the outbound call go to this address? Public always; loopback only in local mode. */
function addressAllowed(address: string, local: boolean): { ok: true } | { ok: false; reason: string } {
  const c = classifyAddress(address);
  if (c.public || (local && c.loopback)) return { ok: true };
  return { ok: false, reason: c.reason };
}

function isLocalMode(): boolean {
  return getConfig().mode === 'local';
}

export type UrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/** Everything about a URL that can be checked without DNS: scheme, credentials, literal addresses, length. */
export function checkUrlShape(raw: string, local = isLocalMode()): UrlCheck {
  if (raw.length > 2048) return { ok: false, reason: 'The webhook URL is longer than 2048 characters.' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `'${raw}' is not an absolute URL.` };
  }
  if (url.username || url.password) {
    return {
      ok: false,
      reason: 'The webhook URL must not contain credentials; webhooks are signed instead.',
    };
  }
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const literal = ipaddrSdk().isValid(host);
  if (url.protocol === 'http:') {
    // The name 'localhost' is still resolved and checked below like any other name.
    if (!local || !((literal && isLoopbackHost(host)) || host === 'localhost')) {
      return {
        ok: false,
        reason: local
          ? 'Plain http webhook URLs are allowed only to loopback (local mode); use https.'
          : 'The webhook URL must use https.',
      };
    }
  } else if (url.protocol !== 'https:') {
    return { ok: false, reason: 'The webhook URL must use https.' };
  }
  if (literal) {
    const allowed = addressAllowed(host, local);
    if (!allowed.ok)
      return {
        ok: false,
        reason: `The webhook URL points at ${allowed.reason}; only public addresses are allowed.`,
      };
  }
  return { ok: true, url };
}

function isLoopbackHost(host: string): boolean {
  const c = classifyAddress(host);
  return !c.public && c.loopback;
}

type Resolver = (hostname: string) => Promise<LookupAddress[]>;

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsModule().lookup(hostname, { all: true, verbatim: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses),
    );
  });

let resolver: Resolver = systemResolver;

/** Tests resolve names without a DNS server ("a name that resolves to 10.0.0.5"). */
export function setResolverForTests(fake: Resolver | undefined): void {
  resolver = fake ?? systemResolver;
}

/** Resolves `hostname` to all its addresses and refuses it if any one of them is not allowed. */
async function resolveChecked(hostname: string, local: boolean): Promise<LookupAddress[]> {
  let addresses: LookupAddress[];
  try {
    addresses = await resolver(hostname);
  } catch (e) {
    throw new OutboundRefused(
      `The webhook host '${hostname}' does not resolve (${(e as NodeJS.ErrnoException).code ?? 'error'}).`,
    );
  }
  if (addresses.length === 0) throw new OutboundRefused(`The webhook host '${hostname}' has no addresses.`);
  for (const a of addresses) {
    const allowed = addressAllowed(a.address, local);
    // Any one refused address refuses the name: a round-robin answer must not smuggle in a private address.
    if (!allowed.ok) {
      throw new OutboundRefused(
        `The webhook host '${hostname}' resolves to ${allowed.reason}; only public addresses are allowed.`,
      );
    }
  }
  return addresses;
}

/** An outbound call refused by the guard; the message says why and is fit for a 400. */
export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
}

/**
 * Validates a webhook URL at registration or request time: shape first, then every address the name resolves
 * to. Returns the parsed URL or the reason it is refused (for a 400).
 */
export async function validateOutboundUrl(raw: string, local = isLocalMode()): Promise<UrlCheck> {
  const shape = checkUrlShape(raw, local);
  if (!shape.ok) return shape;
  const host = shape.url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddrSdk().isValid(host)) return shape;
  try {
    await resolveChecked(host, local);
  } catch (e) {
    if (e instanceof OutboundRefused) return { ok: false, reason: e.message };
    throw e;
  }
  return shape;
}

/**
 * A `lookup` for http(s).request that resolves once, checks every address and hands the socket only the checked
 * ones. Node calls it with `all: true` when happy-eyeballs (autoSelectFamily) is on, else expects one address.
 */
function guardedLookup(local: boolean): LookupFunction {
  return (hostname, options, callback) => {
    resolveChecked(hostname, local).then(
      (addresses) => {
        const family = options.family === 4 || options.family === 6 ? options.family : undefined;
        const usable = family ? addresses.filter((a) => a.family === family) : addresses;
        if (usable.length === 0) {
          callback(
            Object.assign(new Error(`no IPv${family} address for ${hostname}`), { code: 'ENOTFOUND' }),
            '',
            4,
          );
        } else if (options.all) {
          (callback as unknown as (err: null, addresses: LookupAddress[]) => void)(null, usable);
        } else {
          callback(null, usable[0]!.address, usable[0]!.family);
        }
      },
      (err: Error) => callback(err as NodeJS.ErrnoException, '', 4),
    );
  };
}

export interface OutboundResult {
  status: number;
  /** First bytes of the answer (for the delivery log), at most 512. */
  bodySnippet: string;
}

/**
 * POSTs `body` to `url` through the guard. Re-checks the URL at send time (settings and DNS may have changed
 * since registration). Resolves with the status of any answer (3xx included: redirects are not followed);
 * rejects on refusal, connection errors and timeouts (`timeoutMs` bounds the whole exchange).
 */
export async function postGuarded(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  local = isLocalMode(),
): Promise<OutboundResult> {
  const shape = checkUrlShape(url, local);
  if (!shape.ok) throw new OutboundRefused(shape.reason);
  const target = shape.url;
  const options: RequestOptions = {
    method: 'POST',
    protocol: target.protocol,
    hostname: target.hostname.replace(/^\[|\]$/g, ''),
    port: target.port || undefined,
    path: `${target.pathname}${target.search}`,
    headers: {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      ...headers,
    },
    // IP literals never reach `lookup` (checked above by checkUrlShape); names always do.
    lookup: guardedLookup(local),
    signal: AbortSignal.timeout(timeoutMs),
    agent: false,
  };
  const send = target.protocol === 'https:' ? httpsModule().request : httpModule().request;
  return new Promise<OutboundResult>((resolve, reject) => {
    const req = send(options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size < 512) chunks.push(chunk);
        size += chunk.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          bodySnippet: Buffer.concat(chunks).toString('utf8').slice(0, 512),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', (e: Error) => {
      if (e.name === 'AbortError') reject(new Error(`no answer within ${timeoutMs} ms`));
      else reject(e);
    });
    req.end(body);
  });
}
