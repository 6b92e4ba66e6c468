/**
 * Which caller owns which response. Every response id handed to a caller is recorded here first; every
 * id-bearing request is checked here before anything goes upstream, and an id the caller does not own is
 * answered exactly like an id that does not exist.
 */
import { notFound } from './errors';
import type { Caller } from './auth';
import { TABLES, isNotFound, table } from './storage';

export interface OwnershipEntity {
  partitionKey: string; // caller id
  rowKey: string; // response id
  createdAt: string;
  deployment?: string;
  background?: boolean;
}

// Positive answers only: a cached "owned" skips a table read on every retrieve/stream resume. Deleting forgets it.
const OWNED_CACHE_MAX = 50_000;
const owned = new Set<string>();
const cacheKey = (callerId: string, id: string) => `${callerId}\n${id}`;

function remember(callerId: string, id: string): void {
  if (owned.size >= OWNED_CACHE_MAX) owned.clear();
  owned.add(cacheKey(callerId, id));
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
  remember(caller.id, id);
}

export async function owns(caller: Caller, id: string): Promise<boolean> {
  if (owned.has(cacheKey(caller.id, id))) return true;
  const ownership = await table(TABLES.ownership);
  try {
    await ownership.getEntity(caller.id, id, { queryOptions: { select: ['createdAt'] } });
    remember(caller.id, id);
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** Throws the same 404 as for a missing response unless `caller` owns `id`. */
export async function assertOwned(caller: Caller, id: string, param = 'response_id'): Promise<void> {
  if (!(await owns(caller, id))) throw responseNotFound(id, param);
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
