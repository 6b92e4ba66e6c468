/**
 * Which caller uploaded which file (table `ownership`: PartitionKey = caller id, RowKey = upstream file id).
 * Response ids need no record: they are bound to their caller by sealing (responses/ids.ts); files keep one
 * besides their sealed id because they are the service's own uploads, deleted through it.
 */
import { notFound } from '../platform/errors';
import type { Caller } from './auth';
import { TABLES, isNotFound, table } from '../platform/storage';

export interface OwnershipEntity {
  partitionKey: string; // caller id
  rowKey: string; // upstream id
  createdAt: string;
}

// Positive answers only: a cached "owned" skips a table read on every retrieve. Deleting forgets it.
const OWNED_CACHE_MAX = 50_000;
const owned = new Set<string>();
const cacheKey = (callerId: string, id: string) => `${callerId}\n${id}`;

function remember(callerId: string, id: string): void {
  if (owned.size >= OWNED_CACHE_MAX) owned.clear();
  owned.add(cacheKey(callerId, id));
}

/** Records that `caller` owns upstream id `id`. Idempotent. */
export async function recordOwnership(caller: Caller, id: string): Promise<void> {
  const ownership = await table(TABLES.ownership);
  await ownership.upsertEntity<OwnershipEntity>(
    { partitionKey: caller.id, rowKey: id, createdAt: new Date().toISOString() },
    'Merge',
  );
  remember(caller.id, id);
}

/** Whether `caller` owns upstream id `id`. Only "not found" is "no"; any other failure is thrown. */
export async function owns(caller: Caller, id: string): Promise<boolean> {
  if (owned.has(cacheKey(caller.id, id))) return true;
  const ownership = await table(TABLES.ownership);
  try {
    await ownership.getEntity(caller.id, id, { queryOptions: { select: ['createdAt'] } });
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
  remember(caller.id, id);
  return true;
}

/** The 404 for a response id the caller was not given (identical to the one for an id that never existed). */
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
