/**
 * Caller-bound ids. Every id the service hands a caller is the upstream id sealed with a MAC over the caller and
 * the upstream id, so a leaked id (from a log, a support ticket, a shared trace) opens nothing for anyone else:
 * isolation is a CPU check, the same for every id kind, with no storage round trip.
 *
 * A sealed id keeps the upstream id's prefix (`resp_`, `msg_`, `file-`, `cntr_`…) so SDKs and frameworks that
 * sniff prefixes keep working; the rest is base64url (URL-safe, no padding) of
 *
 *   [format 1 byte][key id length 1 byte][key id][MAC 16 bytes][upstream id]
 *
 * where the upstream id is packed as bytes when its tail after the prefix is lowercase hex (Azure's `resp_<48 hex>`
 * style, format 2), else kept as UTF-8 in full (format 1). The MAC is HMAC-SHA256 truncated to 128 bits over the
 * key id, the caller id and the upstream id (length-prefixed, so no two inputs share an encoding). The key id
 * names the secret that sealed it, which is what makes rotation possible: new ids are sealed with the current
 * key, ids sealed with older keys still open while those keys stay in the ring.
 *
 * Keys come from the setting ID_SEALING_KEYS = `kid:base64secret[,kid:base64secret…]`, first is current, handed
 * in through `configureIdSealing` (this module reads no settings itself).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The setting that holds the key ring. */
export const ID_SEALING_KEYS_SETTING = 'ID_SEALING_KEYS';

/** Longest sealed id this module produces (prefix included). */
export const MAX_SEALED_ID_LENGTH = 200;
/** Longest upstream id it seals; with the longest prefix and key id the sealed form stays within 200 characters. */
export const MAX_UPSTREAM_ID_LENGTH = 100;

const MAC_BYTES = 16; // 128 bits; a truncated HMAC tag should keep at least 96 (NIST SP 800-107)
const MIN_SECRET_BYTES = 32;
const KID_PATTERN = /^[A-Za-z0-9]{1,8}$/;
const FORMAT_UTF8 = 1;
const FORMAT_HEX = 2;
// The visible prefix is letters and digits then the first `_` or `-` (`resp_`, `file-`, `assistant-`, `cntr_`);
// upstream ids without one still get one, so the sealed form always parses the same way.
const FALLBACK_PREFIX = 'id_';

export interface IdSealingKey {
  /** 1–8 letters or digits; travels in every sealed id. */
  readonly kid: string;
  /** At least 32 bytes. */
  readonly secret: Buffer;
}

/** ID_SEALING_KEYS is missing or malformed. The message names the setting and what to fix, never a secret. */
export class IdSealingConfigError extends Error {
  override readonly name = 'IdSealingConfigError';
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
  }
}

const GENERATE_HINT =
  "Generate one with `node -e \"console.log('k1:' + require('crypto').randomBytes(32).toString('base64'))\"`.";

/**
 * Parses `kid:base64secret[,kid:base64secret…]` (first is the current key). Throws IdSealingConfigError naming
 * `setting` and the entry at fault; secrets never appear in messages.
 */
export function parseIdSealingKeys(
  value: string | undefined,
  setting: string = ID_SEALING_KEYS_SETTING,
): IdSealingKey[] {
  if (!value || !value.trim()) {
    throw new IdSealingConfigError(
      setting,
      `${setting} is not set. It holds the keys that bind ids to callers, as 'kid:base64secret' (first is current). ${GENERATE_HINT}`,
    );
  }
  const keys: IdSealingKey[] = [];
  const entries = value.split(',').map((e) => e.trim());
  entries.forEach((entry, i) => {
    const where = `${setting} entry ${i + 1} of ${entries.length}`;
    const colon = entry.indexOf(':');
    if (colon < 0) {
      throw new IdSealingConfigError(setting, `${where} is not 'kid:base64secret'. ${GENERATE_HINT}`);
    }
    const kid = entry.slice(0, colon).trim();
    const encoded = entry.slice(colon + 1).trim();
    if (!KID_PATTERN.test(kid)) {
      throw new IdSealingConfigError(
        setting,
        `${where}: the key id '${kid.slice(0, 20)}' must be 1 to 8 letters or digits (it travels in every id).`,
      );
    }
    if (keys.some((k) => k.kid === kid)) {
      throw new IdSealingConfigError(
        setting,
        `${where}: the key id '${kid}' appears twice; give every key its own id.`,
      );
    }
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) {
      throw new IdSealingConfigError(
        setting,
        `${where} (key id '${kid}'): the secret is not base64. ${GENERATE_HINT}`,
      );
    }
    const secret = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (secret.length < MIN_SECRET_BYTES) {
      throw new IdSealingConfigError(
        setting,
        `${where} (key id '${kid}'): the secret is ${secret.length} bytes; it must be at least ${MIN_SECRET_BYTES}. ${GENERATE_HINT}`,
      );
    }
    keys.push({ kid, secret });
  });
  return keys;
}

/** A fresh `kid:base64secret` entry for ID_SEALING_KEYS (what `npm start` writes into local.settings.json). */
export function generateIdSealingKeyEntry(kid = 'k1'): string {
  if (!KID_PATTERN.test(kid)) throw new Error(`Key id '${kid}' must be 1 to 8 letters or digits.`);
  return `${kid}:${randomBytes(32).toString('base64')}`;
}

/** Seals and opens ids under one key ring. */
export interface IdSealer {
  /** The key id new ids are sealed with. */
  readonly currentKid: string;
  /** The caller-bound form of `upstreamId`. Deterministic: the same caller and id always seal the same way. */
  seal(callerId: string, upstreamId: string): string;
  /** The upstream id, or undefined unless `id` was sealed for `callerId` under a key still in the ring. */
  open(callerId: string, id: string): string | undefined;
}

// Repeats are the common case (every delta of a stream names the same item; retrieves name the same response),
// and a map lookup is a small fraction of an HMAC. Positive results only; everything goes when full.
const MEMO_MAX = 20_000;

/**
 * Results by caller, then by id. Two levels rather than one joined key: no string is built per lookup, and V8
 * keeps each string's hash, so an id already seen (an upstream id in every event of a stream) is not rehashed.
 */
class Memo {
  private readonly byCaller = new Map<string, Map<string, string>>();
  private size = 0;

  get(callerId: string, id: string): string | undefined {
    return this.byCaller.get(callerId)?.get(id);
  }

  set(callerId: string, id: string, value: string): void {
    if (this.size >= MEMO_MAX) {
      this.byCaller.clear();
      this.size = 0;
    }
    let entries = this.byCaller.get(callerId);
    if (!entries) this.byCaller.set(callerId, (entries = new Map<string, string>()));
    entries.set(id, value);
    this.size++;
  }
}

const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Length of the prefix (letters and digits, then the first `_` or `-`), 0 when there is none. */
function prefixLength(id: string): number {
  const limit = Math.min(id.length, 17);
  for (let i = 0; i < limit; i++) {
    const c = id.charCodeAt(i);
    if (c === 95 /* _ */ || c === 45 /* - */) return i > 0 ? i + 1 : 0;
    if (!isAlnum(c)) return 0;
  }
  return 0;
}

/** Whether id[from…] is lowercase hex of even, non-zero length: packs to half its size. */
function isHexTail(id: string, from: number): boolean {
  const n = id.length - from;
  if (n === 0 || n % 2 !== 0) return false;
  for (let i = from; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** A sealer over `keys` (first is current). Throws IdSealingConfigError for an empty or malformed ring. */
export function createIdSealer(keys: readonly IdSealingKey[]): IdSealer {
  if (keys.length === 0) {
    throw new IdSealingConfigError(ID_SEALING_KEYS_SETTING, 'The id sealing key ring is empty.');
  }
  const ring = new Map<string, Buffer>();
  for (const { kid, secret } of keys) {
    if (!KID_PATTERN.test(kid)) {
      throw new IdSealingConfigError(
        ID_SEALING_KEYS_SETTING,
        `The key id '${kid}' must be 1 to 8 letters or digits.`,
      );
    }
    if (ring.has(kid)) {
      throw new IdSealingConfigError(ID_SEALING_KEYS_SETTING, `The key id '${kid}' appears twice.`);
    }
    if (secret.length < MIN_SECRET_BYTES) {
      throw new IdSealingConfigError(
        ID_SEALING_KEYS_SETTING,
        `The secret of key id '${kid}' is shorter than ${MIN_SECRET_BYTES} bytes.`,
      );
    }
    // A private copy: the caller's buffer may be reused or zeroed. (A raw Buffer key measured faster than a
    // cached KeyObject with createHmac on Node 20, and the same on Node 22.)
    ring.set(kid, Buffer.from(secret));
  }
  const current = keys[0]!.kid;
  const currentSecret = ring.get(current)!;
  const sealMemo = new Memo();
  const openMemo = new Memo();

  /** The full HMAC-SHA256; the first MAC_BYTES travel in the id. */
  const mac = (secret: Buffer, kid: string, callerId: string, upstreamId: string): Buffer =>
    createHmac('sha256', secret)
      .update(`${kid.length}:${kid}${callerId.length}:${callerId}${upstreamId}`)
      .digest();

  /** The one encoding of a sealed id, written into a single buffer. */
  function encode(kid: string, tag: Buffer, upstreamId: string): string {
    const prefixLen = prefixLength(upstreamId);
    const hex = prefixLen > 0 && isHexTail(upstreamId, prefixLen);
    const bodyStart = 2 + kid.length + MAC_BYTES;
    const bodyLength = hex ? (upstreamId.length - prefixLen) / 2 : Buffer.byteLength(upstreamId, 'utf8');
    const out = Buffer.allocUnsafe(bodyStart + bodyLength);
    out[0] = hex ? FORMAT_HEX : FORMAT_UTF8;
    out[1] = kid.length;
    out.write(kid, 2, 'latin1');
    tag.copy(out, 2 + kid.length, 0, MAC_BYTES);
    if (hex) out.write(upstreamId.slice(prefixLen), bodyStart, 'hex');
    else out.write(upstreamId, bodyStart, 'utf8');
    const prefix = prefixLen > 0 ? upstreamId.slice(0, prefixLen) : FALLBACK_PREFIX;
    return prefix + out.toString('base64url');
  }

  function seal(callerId: string, upstreamId: string): string {
    const memo = sealMemo.get(callerId, upstreamId);
    if (memo !== undefined) return memo;
    if (typeof upstreamId !== 'string' || upstreamId.length === 0) {
      throw new Error('Cannot seal an empty id.');
    }
    if (upstreamId.length > MAX_UPSTREAM_ID_LENGTH) {
      throw new Error(
        `Cannot seal an id of ${upstreamId.length} characters (at most ${MAX_UPSTREAM_ID_LENGTH}).`,
      );
    }
    const sealed = encode(current, mac(currentSecret, current, callerId, upstreamId), upstreamId);
    sealMemo.set(callerId, upstreamId, sealed);
    // What this instance hands out comes back (previous_response_id, items passed back): it opens from memory.
    openMemo.set(callerId, sealed, upstreamId);
    return sealed;
  }

  function open(callerId: string, id: string): string | undefined {
    if (typeof id !== 'string' || id.length > MAX_SEALED_ID_LENGTH) return undefined;
    const memo = openMemo.get(callerId, id);
    if (memo !== undefined) return memo;
    const prefixLen = prefixLength(id);
    if (prefixLen === 0) return undefined;
    // Characters outside base64url are skipped by the decoder; the final comparison with the canonical encoding
    // refuses them.
    const raw = Buffer.from(id.slice(prefixLen), 'base64url');
    if (raw.length < 2) return undefined;
    const format = raw[0];
    const kidLength = raw[1]!;
    const macStart = 2 + kidLength;
    const bodyStart = macStart + MAC_BYTES;
    if ((format !== FORMAT_UTF8 && format !== FORMAT_HEX) || kidLength < 1 || raw.length <= bodyStart) {
      return undefined;
    }
    const kid = raw.toString('latin1', 2, macStart);
    const secret = ring.get(kid);
    if (!secret) return undefined;
    const upstreamId =
      format === FORMAT_HEX
        ? id.slice(0, prefixLen) + raw.toString('hex', bodyStart)
        : raw.toString('utf8', bodyStart);
    if (upstreamId.length > MAX_UPSTREAM_ID_LENGTH) return undefined;
    const expected = mac(secret, kid, callerId, upstreamId);
    if (!timingSafeEqual(expected.subarray(0, MAC_BYTES), raw.subarray(macStart, bodyStart)))
      return undefined;
    // The MAC holds; the id must also be the one encoding this service produces, so that one upstream id has
    // exactly one sealed form per caller and key (ids are compared and cached as strings downstream).
    if (encode(kid, expected, upstreamId) !== id) return undefined;
    openMemo.set(callerId, id, upstreamId);
    return upstreamId;
  }

  return { currentKid: current, seal, open };
}

let configured: IdSealer | undefined;

/**
 * Installs the key ring the module-level `sealId` / `openId` use: the parsed entries or the raw setting value
 * (parsed with parseIdSealingKeys). Call once at start-up with the validated configuration; calling again
 * replaces the ring (and forgets everything cached under the old one).
 */
export function configureIdSealing(keys: readonly IdSealingKey[] | string): void {
  configured = createIdSealer(typeof keys === 'string' ? parseIdSealingKeys(keys) : keys);
}

export function isIdSealingConfigured(): boolean {
  return configured !== undefined;
}

function sealer(): IdSealer {
  if (!configured) {
    // Fail closed: without keys nothing may be handed out or accepted.
    throw new Error(
      `Id sealing is not configured: call configureIdSealing() with ${ID_SEALING_KEYS_SETTING} at start-up.`,
    );
  }
  return configured;
}

/** The caller-bound form of `upstreamId` (same prefix, URL-safe, at most 200 characters). */
export function sealId(callerId: string, upstreamId: string): string {
  return sealer().seal(callerId, upstreamId);
}

/** The upstream id behind `id`, or undefined when it was not sealed for `callerId` under a key in the ring. */
export function openId(callerId: string, id: string): string | undefined {
  return sealer().open(callerId, id);
}

/** Only for tests: back to the unconfigured state. */
export function resetIdSealingForTests(): void {
  configured = undefined;
}
