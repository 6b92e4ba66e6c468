/**
 * Gateway API keys. A key is shown once, when created; only its SHA-256 hash is stored (table `callers`,
 * partition `key`, row = hash), so a leaked table does not leak usable keys.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TABLES, table, isNotFound } from '../platform/storage';

const KEY_PARTITION = 'key';
const CALLER_PARTITION = 'caller';
const CALLER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

interface KeyEntity {
  partitionKey: string;
  rowKey: string;
  caller: string;
  createdAt: string;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export function assertCallerName(caller: string): void {
  if (!CALLER_NAME.test(caller)) {
    throw new Error(
      `Caller name "${caller}" is invalid: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.`,
    );
  }
}

/** Creates a new key for `caller` (a caller may hold several; revoke removes all). Returns the key in clear. */
export async function createKey(caller: string): Promise<string> {
  assertCallerName(caller);
  const key = `rgw_${randomBytes(32).toString('base64url')}`;
  const callers = await table(TABLES.callers);
  const hash = hashKey(key);
  const now = new Date().toISOString();
  await callers.createEntity<KeyEntity>({
    partitionKey: KEY_PARTITION,
    rowKey: hash,
    caller,
    createdAt: now,
  });
  await callers.upsertEntity({ partitionKey: CALLER_PARTITION, rowKey: caller, createdAt: now }, 'Merge');
  keyCache.clear();
  return key;
}

/** Removes every key of `caller`. Returns how many were removed. */
export async function revokeKeys(caller: string): Promise<number> {
  assertCallerName(caller);
  const callers = await table(TABLES.callers);
  let removed = 0;
  const rows = callers.listEntities<KeyEntity>({
    queryOptions: { filter: `PartitionKey eq '${KEY_PARTITION}' and caller eq '${caller}'` },
  });
  for await (const row of rows) {
    await callers.deleteEntity(KEY_PARTITION, row.rowKey);
    removed++;
  }
  keyCache.clear();
  return removed;
}

/** Callers that have ever been given a key. */
export async function listCallers(): Promise<string[]> {
  const callers = await table(TABLES.callers);
  const names: string[] = [];
  for await (const row of callers.listEntities({
    queryOptions: { filter: `PartitionKey eq '${CALLER_PARTITION}'` },
  })) {
    names.push(row.rowKey!);
  }
  return names;
}

// A short positive/negative cache keeps a table read off the hot path of every request. Revocation therefore
// takes effect within KEY_CACHE_MS on other instances (at once on the instance that revoked).
const KEY_CACHE_MS = 30_000;
const KEY_CACHE_MAX = 10_000;
const keyCache = new Map<string, { caller: string | null; until: number }>();

/** The caller a key belongs to, or null. */
export async function callerForKey(key: string): Promise<string | null> {
  if (!key.startsWith('rgw_') || key.length > 200) return null;
  const hash = hashKey(key);
  const cached = keyCache.get(hash);
  const now = Date.now();
  if (cached && cached.until > now) return cached.caller;
  let caller: string | null = null;
  try {
    const callers = await table(TABLES.callers);
    const row = await callers.getEntity<KeyEntity>(KEY_PARTITION, hash);
    // The lookup is by hash already; the extra constant-time compare guards against a mis-keyed row.
    if (timingSafeEqual(Buffer.from(row.rowKey), Buffer.from(hash))) caller = row.caller;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
  keyCache.set(hash, { caller, until: now + KEY_CACHE_MS });
  return caller;
}

export function clearKeyCacheForTests(): void {
  keyCache.clear();
}
