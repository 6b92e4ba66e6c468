/**
 * Which caller owns which response. Every response id handed to a caller is recorded here first; every
 * id-bearing request is checked here before anything goes upstream, and an id the caller does not own is
 * answered exactly like an id that does not exist.
 */
import { notFound } from '../platform/errors';
import type { Caller } from './auth';
import { TABLES, isNotFound, table } from '../platform/storage';

export interface OwnershipEntity {
  partitionKey: string; // caller id
  rowKey: string; // response id
  createdAt: string;
  deployment?: string;
  background?: boolean;
}

// Positive answers only: a cached "owned" skips a table read on every retrieve/stream resume. Deleting forgets it.
// The value is the record's `background` flag (undefined when the record has none, e.g. files).
const OWNED_CACHE_MAX = 50_000;
const owned = new Map<string, boolean | undefined>();
const cacheKey = (callerId: string, id: string) => `${callerId}\n${id}`;

function remember(callerId: string, id: string, background: boolean | undefined): void {
  if (owned.size >= OWNED_CACHE_MAX) owned.clear();
  owned.set(cacheKey(callerId, id), background);
}

/** Records that `caller` owns response `id`. Idempotent. */
export async function recordOwnership(
  caller: Caller,
  id: string,
  details: { deployment?: string; background?: boolean } = {},
): Promise<void> {
  const ownership = await table(TABLES.ownership);
  await ownership.upsertEntity<OwnershipEntity>(
    { partitionKey: caller.id, rowKey: id, createdAt: new Date().toISOString(), ...details },
    'Merge',
  );
  remember(caller.id, id, details.background);
}

/** What the ownership record says about `id`, or undefined when `caller` does not own it. */
export async function ownership(
  caller: Caller,
  id: string,
): Promise<{ background: boolean | undefined } | undefined> {
  const key = cacheKey(caller.id, id);
  if (owned.has(key)) return { background: owned.get(key) };
  const ownershipTable = await table(TABLES.ownership);
  try {
    const row = await ownershipTable.getEntity<Pick<OwnershipEntity, 'createdAt' | 'background'>>(
      caller.id,
      id,
      {
        queryOptions: { select: ['createdAt', 'background'] },
      },
    );
    const background = typeof row.background === 'boolean' ? row.background : undefined;
    remember(caller.id, id, background);
    return { background };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export async function owns(caller: Caller, id: string): Promise<boolean> {
  return (await ownership(caller, id)) !== undefined;
}

/**
 * Throws the same 404 as for a missing response unless `caller` owns `id`. Returns the record's `background`
 * flag (undefined when unknown).
 */
export async function assertOwned(
  caller: Caller,
  id: string,
  param = 'response_id',
): Promise<{ background: boolean | undefined }> {
  const record = await ownership(caller, id);
  if (!record) throw responseNotFound(id, param);
  return record;
}

export function responseNotFound(id: string, param = 'response_id') {
  return notFound(`No response found with id '${id}'.`, param);
}

export async function forgetOwnership(caller: Caller, id: string): Promise<void> {
  owned.delete(cacheKey(caller.id, id));
  const ownership = await table(TABLES.ownership);
  await ownership.deleteEntity(caller.id, id).catch((e: unknown) => {
    if (!isNotFound(e)) throw e;
  });
}

export function clearOwnershipCacheForTests(): void {
  owned.clear();
}
