/**
 * Idempotent creates (`Idempotency-Key` header), scoped to the caller and kept 24 hours, in table
 * `idempotency` (PartitionKey = caller id, RowKey = SHA-256 of the key, so any key text is a valid RowKey).
 *
 * - First use: a `running` claim is created (create-if-absent: of two concurrent requests exactly one wins).
 * - Same key, same body, finished: the first result is replayed, nothing goes upstream.
 * - Same key, different body: 422. Same key while the first is running: 409.
 * - A `running` claim older than STALE_CLAIM_MS belongs to a crashed instance and is taken over.
 * - A failed attempt is abandoned (claim deleted) so the client's retry can go again.
 *
 * Results larger than fit in a table property are kept as blobs in the `responses` container under
 * `idempotency/`. A recorded result schedules its own expiry on the poller's due index, which deletes the row
 * and blob once the key has expired, so the table holds about a day of keys however long the app runs.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Caller } from '../callers/auth';
import { badRequest, conflict, unprocessable } from '../platform/errors';
import { scheduleDueTask, type DueTaskContext } from '../platform/scheduling/due-tasks';
import { storageNames } from '../platform/storage-names';
import { container, isConcurrencyConflict, isNotFound, table } from '../platform/storage';

/** How long a key is remembered. */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
/**
 * A running claim older than this is from an instance that died: above the function timeout (host.json
 * `functionTimeout`, 10 min), after which the platform has stopped the original invocation for sure.
 */
export const STALE_CLAIM_MS = 11 * 60_000;
// Table string properties hold at most 64 KiB (32K UTF-16 characters); larger results go to a blob.
/** Due-task prefix of an Idempotency-Key's expiry (name: `<url-encoded caller id>|<row key>`). */
export const IDEMPOTENCY_EXPIRY_TASK = 'idempotency-expiry';

const INLINE_MAX_CHARS = 30_000;

interface IdempotencyEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  state: 'running' | 'done';
  bodyHash: string;
  claim: string;
  claimedAt: number;
  expiresAt: number;
  status?: number;
  body?: string;
  bodyBlob?: string;
}

/** Proof of a claim; pass it to completeIdempotent or abandonIdempotent. */
export interface IdempotencyToken {
  readonly callerId: string;
  readonly rowKey: string;
  readonly claim: string;
}

export type IdempotencyBegin =
  { kind: 'new'; token: IdempotencyToken } | { kind: 'replay'; status: number; body: unknown };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Validates an Idempotency-Key header value: 1–255 printable ASCII characters. */
export function validateIdempotencyKey(raw: string): string {
  const key = raw.trim();
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) {
    throw badRequest(
      'Idempotency-Key must be 1 to 255 printable ASCII characters.',
      'Idempotency-Key',
      'invalid_idempotency_key',
    );
  }
  return key;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Hash of a parsed JSON body, insensitive to key order and whitespace. */
export function hashRequestBody(body: unknown): string {
  return sha256(JSON.stringify(canonical(body)));
}

async function records() {
  return table(storageNames().idempotency);
}

async function readRecord(callerId: string, rowKey: string): Promise<IdempotencyEntity | undefined> {
  try {
    return await (await records()).getEntity<IdempotencyEntity>(callerId, rowKey);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function replayBody(row: IdempotencyEntity): Promise<unknown> {
  if (row.bodyBlob) {
    const blobs = await container(storageNames().responses);
    const buffer = await blobs.getBlockBlobClient(row.bodyBlob).downloadToBuffer();
    return JSON.parse(buffer.toString('utf8'));
  }
  return row.body ? JSON.parse(row.body) : null;
}

/**
 * Starts an idempotent request: `new` with a token when this request should do the work, `replay` with the
 * first result when it was done before. Throws a 422 ApiError if the key was used with another body, a 409
 * ApiError while the first request with the key is still running.
 */
export async function beginIdempotent(
  caller: Caller,
  key: string,
  bodyHash: string,
  now = Date.now(),
): Promise<IdempotencyBegin> {
  const t = await records();
  const rowKey = sha256(key);
  const fresh = (): IdempotencyEntity => ({
    partitionKey: caller.id,
    rowKey,
    state: 'running',
    bodyHash,
    claim: randomUUID(),
    claimedAt: now,
    expiresAt: now + IDEMPOTENCY_TTL_MS,
  });
  for (let attempt = 0; attempt < 5; attempt++) {
    const entity = fresh();
    try {
      await t.createEntity(entity);
      return { kind: 'new', token: { callerId: caller.id, rowKey, claim: entity.claim } };
    } catch (e) {
      if (!isConcurrencyConflict(e)) throw e;
    }
    const existing = await readRecord(caller.id, rowKey);
    if (!existing) continue;
    const expired = existing.expiresAt <= now;
    const stale = existing.state === 'running' && now - existing.claimedAt > STALE_CLAIM_MS;
    if (!expired && existing.bodyHash !== bodyHash) {
      throw unprocessable(
        'This Idempotency-Key was already used with a different request body.',
        'idempotency_key_reused',
      );
    }
    if (!expired && existing.state === 'done') {
      return { kind: 'replay', status: existing.status ?? 200, body: await replayBody(existing) };
    }
    if (!expired && !stale) {
      throw conflict(
        'A request with this Idempotency-Key is still being processed; retry it later.',
        'idempotency_key_in_use',
      );
    }
    // Expired, or claimed by an instance that died: take it over (ETag: one taker wins, the others loop).
    try {
      await t.updateEntity(entity, 'Replace', { etag: existing.etag });
      return { kind: 'new', token: { callerId: caller.id, rowKey, claim: entity.claim } };
    } catch (e) {
      if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
    }
  }
  throw conflict(
    'A request with this Idempotency-Key is still being processed; retry it later.',
    'idempotency_key_in_use',
  );
}

/**
 * Records the result of the request holding `token`, to be replayed to repeats for 24 hours. Store
 * deterministic outcomes only (2xx, 4xx); on a 5xx or 429 call abandonIdempotent so a retry can go again.
 * Does nothing if the claim was taken over meanwhile.
 */
export async function completeIdempotent(
  token: IdempotencyToken,
  status: number,
  body: unknown,
): Promise<void> {
  const t = await records();
  const row = await readRecord(token.callerId, token.rowKey);
  if (!row || row.claim !== token.claim) return;
  const json = JSON.stringify(body ?? null);
  const done: IdempotencyEntity = { ...row, state: 'done', status };
  delete done.etag;
  if (json.length > INLINE_MAX_CHARS) {
    const name = `idempotency/${sha256(token.callerId)}/${token.rowKey}.json`;
    const blobs = await container(storageNames().responses);
    await blobs.getBlockBlobClient(name).upload(json, Buffer.byteLength(json), {
      blobHTTPHeaders: { blobContentType: 'application/json' },
    });
    done.bodyBlob = name;
  } else {
    done.body = json;
  }
  try {
    await t.updateEntity(done, 'Replace', { etag: row.etag });
  } catch (e) {
    if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
    return;
  }
  await scheduleDueTask(IDEMPOTENCY_EXPIRY_TASK, expiryName(token.callerId, token.rowKey), row.expiresAt);
}

const expiryName = (callerId: string, rowKey: string) => `${encodeURIComponent(callerId)}|${rowKey}`;

/** The expiry due task: deletes a key's row and result blob once the key has expired (a reused key is kept). */
export async function purgeExpiredKey(ctx: DueTaskContext): Promise<'ran' | 'skipped'> {
  const bar = ctx.name.lastIndexOf('|');
  if (bar < 0) return 'skipped';
  const callerId = decodeURIComponent(ctx.name.slice(0, bar));
  const rowKey = ctx.name.slice(bar + 1);
  const row = await readRecord(callerId, rowKey);
  // Taken again after it expired: the new use scheduled its own expiry.
  if (!row || row.expiresAt > ctx.now) return 'skipped';
  try {
    await (await records()).deleteEntity(callerId, rowKey, { etag: row.etag });
  } catch (e) {
    if (isConcurrencyConflict(e) || isNotFound(e)) return 'skipped';
    throw e;
  }
  if (row.bodyBlob) {
    const blobs = await container(storageNames().responses);
    await blobs.deleteBlob(row.bodyBlob).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }
  return 'ran';
}

/** Gives the key back after a failed attempt, so the client's retry runs again. No-op if taken over. */
export async function abandonIdempotent(token: IdempotencyToken): Promise<void> {
  const t = await records();
  const row = await readRecord(token.callerId, token.rowKey);
  if (!row || row.claim !== token.claim || row.state !== 'running') return;
  await t.deleteEntity(token.callerId, token.rowKey, { etag: row.etag }).catch((e: unknown) => {
    if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
  });
}
