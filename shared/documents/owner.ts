/**
 * Who a document belongs to and how they hear about it: the caller that uploaded it through the API (or nobody,
 * for a blob dropped straight into storage), its URL, and the `document.*` webhooks sent outside a job.
 */
import type { Caller } from '../callers/auth';
import { enqueueWebhookEvent } from '../webhooks/delivery';
import { buildEvent, publicBaseUrl } from '../webhooks/events';
import { claimedOwner } from './naming';
import { documentStorageNames } from './names';
import type { RecordError, SourceVersion } from './records';
import { readDocument } from './store';

/** Blobs dropped straight into storage belong to no caller; their jobs are listed under this id, which no key or Entra principal can have. */
export const STORAGE_CALLER: Caller = { id: 'storage:documents', source: 'key', name: 'storage' };

export interface Owner {
  caller: Caller;
  documentId: string;
  webhookUrl?: string;
  filename: string;
}

/** The caller that uploaded `blobName` through the API, or undefined (dropped straight into storage). */
export async function ownerOf(blobName: string): Promise<Owner | undefined> {
  const claim = claimedOwner(blobName);
  if (!claim) return undefined;
  const row = await readDocument(claim.callerId, claim.documentId);
  if (!row || row.blobName !== blobName) return undefined;
  const source = row.callerId.startsWith('entra:') ? 'entra' : 'key';
  return {
    caller: { id: row.callerId, source, name: row.callerName },
    documentId: claim.documentId,
    webhookUrl: row.webhookUrl || undefined,
    filename: row.filename,
  };
}

export const documentUrl = (documentId: string) => `${publicBaseUrl()}/api/v1/documents/${documentId}`;

/** Queues a `document.*` webhook for an API upload outside a job (rejections, permanent create failures). */
export async function notifyOwner(
  owner: Owner | undefined,
  status: 'rejected' | 'failed',
  error: RecordError,
  source: SourceVersion,
): Promise<void> {
  if (!owner) return;
  const event = buildEvent('document.failed', {
    id: owner.documentId,
    object: 'document',
    status,
    filename: owner.filename,
    blob: `${documentStorageNames().documents}/${source.name}`,
    summary_blob: null,
    response_id: null,
    error,
    url: documentUrl(owner.documentId),
  });
  await enqueueWebhookEvent({ callerId: owner.caller.id, url: owner.webhookUrl, event });
}
