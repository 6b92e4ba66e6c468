/**
 * Claim recovery: the due task that finishes a document version whose delivery stopped half-way.
 *
 * A delivery claims a version for a lease and schedules this task for the lease's end (process.ts). Normally
 * the delivery settles the version and cancels the task. When the host dies mid-delivery, redeliveries during
 * the lease see a live claim and stand down, and the platform's retries of a failing delivery are few (the blob
 * extension gives up after five); so without this task such a version would stay `queued` forever. When the
 * task comes due and the version is still unfinished with nobody holding it, it reads the blob's current
 * version and runs the delivery again, which resumes from the claim (reusing an uploaded file or a created
 * response).
 */
import type { DueTaskContext } from '../platform/scheduling/due-tasks';
import { scheduleDueTask } from '../platform/scheduling/due-tasks';
import { container, isNotFound } from '../platform/storage';
import { CLAIM_RECOVERY_TASK, documentStorageNames } from './names';
import { processDocumentBlob } from './ingest';
import { ownerOf } from './owner';
import { errorJson, readVersionByKey, setDocumentStatus, settleVersion, type VersionEntity } from './store';

/** Wait before trying again when the recovery itself failed (storage or upstream trouble). */
const RETRY_MS = 60_000;

/** Whether a version row is unfinished and no delivery holds it. */
export function isAbandoned(row: VersionEntity, now: number): boolean {
  return row.state === 'released' || (row.state === 'claimed' && row.leaseUntil <= now);
}

export async function recoverDocumentClaim(ctx: DueTaskContext): Promise<'ran' | 'skipped'> {
  const { name: partitionKey, log, now } = ctx;
  const row = await readVersionByKey(partitionKey);
  if (!row) return 'skipped';
  if (!isAbandoned(row, now)) return 'skipped';
  const base = { event: 'document', blob: row.blobName, etag: row.sourceEtag, state: row.state };
  try {
    const blob = (await container(documentStorageNames().documents)).getBlobClient(row.blobName);
    let properties;
    try {
      properties = await blob.getProperties();
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await abandon(row);
      log.warn(JSON.stringify({ ...base, outcome: 'recovery_source_gone' }));
      return 'ran';
    }
    // The blob's current version: if a newer upload replaced the claimed one and its own delivery was lost
    // too, this drives the newer one (the claim moves to it); the older version's summary is moot.
    const etag = properties.etag!;
    const data = await blob.downloadToBuffer(undefined, undefined, { conditions: { ifMatch: etag } });
    log.warn(JSON.stringify({ ...base, outcome: 'recovering', current: etag, attempts: row.attempts }));
    await processDocumentBlob(
      {
        name: row.blobName,
        data,
        etag,
        lastModified: properties.lastModified?.getTime() ?? 0,
        bytes: data.byteLength,
      },
      log,
      now,
    );
  } catch (e) {
    // The delivery left its own recovery row if it got as far as claiming; this one makes sure of it.
    await scheduleDueTask(CLAIM_RECOVERY_TASK, partitionKey, Date.now() + RETRY_MS);
    log.warn(
      JSON.stringify({
        ...base,
        outcome: 'recovery_failed',
        retryInMs: RETRY_MS,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
  }
  return 'ran';
}

/** The claimed blob is gone: nothing can be summarized; the version and its uploader's document fail. */
async function abandon(row: VersionEntity): Promise<void> {
  const error = {
    code: 'source_deleted',
    message: 'The document was deleted from storage before its summary could be made.',
  };
  await settleVersion(row.blobName, row.sourceEtag, 'failed');
  const owner = await ownerOf(row.blobName);
  if (owner)
    await setDocumentStatus(owner.caller.id, owner.documentId, row.sourceEtag, 'failed', {
      error: errorJson(error),
      completedAt: Date.now(),
    });
}
