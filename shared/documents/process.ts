/**
 * What happens to a blob in `documents/`: classify the name, claim the version, validate, start a background
 * summary on the summary deployment, track it as a `document` job. The job's finalizer (below) writes the
 * summary and record when the poller sees the response end.
 *
 * Idempotency and the crash window: the version claim (store.ts) admits one delivery per blob version. The
 * upstream response id is written to the claim right after the create returns, before anything else; a retry
 * of a delivery that failed later finds it and resumes with that response instead of creating another. The one
 * window left is a crash between the create returning and that write: the retry then creates a second response
 * (the first runs unobserved and is paid for). Both carry the blob's ETag in `metadata`, so they can be matched
 * in Azure OpenAI logs. Closing the window would need an idempotency key upstream, which the API does not have.
 */
import type { Response, ResponseInputFile } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { fromUpstream, isUpstreamError } from '../platform/errors';
import { recordOwnership } from '../callers/ownership';
import { retryOn429 } from '../platform/retry';
import { container, isNotFound } from '../platform/storage';
import { cancelDueTask, scheduleDueTask } from '../platform/scheduling/due-tasks';
import { trackBackgroundJob, type FinalizerContext, type FinalizerResult, type JobLog } from '../jobs';
import { enqueueWebhookEvent } from '../webhooks/delivery';
import { buildEvent, publicBaseUrl } from '../webhooks/events';
import {
  fileIdPart,
  inlinePdfPart,
  inputModeFor,
  uploadPdf,
  uploadPdfFromBlob,
  uploadsFromStorage,
} from './input';
import { blobKey, claimedOwner, classifyBlobName } from './naming';
import { CLAIM_RECOVERY_TASK, documentStorageNames } from './names';
import {
  deleteStaleSummary,
  newRecord,
  writeRecord,
  writeSummary,
  type RecordError,
  type SourceVersion,
  type SummaryRecord,
} from './records';
import {
  claimVersion,
  errorJson,
  readDocument,
  readVersion,
  setDocumentStatus,
  settleVersion,
  updateVersion,
  type VersionEntity,
} from './store';
import { reject, validatePdf, type Rejection } from './validate';

/** Blobs dropped straight into storage belong to no caller; their jobs are listed under this id, which no key or Entra principal can have. */
export const STORAGE_CALLER: Caller = { id: 'storage:documents', source: 'key', name: 'storage' };

export interface BlobDelivery extends SourceVersion {
  /** The blob's bytes, as the trigger delivered them: the only copy this code keeps. */
  data: Buffer;
}

export type ProcessOutcome =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'duplicate'; state: string }
  | { outcome: 'rejected'; rejection: Rejection }
  | { outcome: 'failed'; error: RecordError }
  | { outcome: 'submitted'; responseId: string; reused: boolean; input: 'file_data' | 'file_id' };

interface Owner {
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

/** How long one delivery may hold a claim before another delivery of the same version may take it over. */
export function leaseMs(): number {
  const config = getConfig();
  // An upload and a create, each with its retries, plus a margin.
  return 2 * config.openaiTimeoutMs * (config.openaiMaxRetries + 1) + 60_000;
}

const LOG_EVENT = 'document';

function log(logger: JobLog, fields: Record<string, unknown>): void {
  logger.log(JSON.stringify({ event: LOG_EVENT, ...fields }));
}

/** An upstream answer that retrying will not change (a 4xx other than 408/409/429). */
function permanentUpstreamError(e: unknown): RecordError | undefined {
  if (!isUpstreamError(e) || e.status === undefined) return undefined;
  if (e.status < 400 || e.status >= 500 || [408, 409, 429].includes(e.status)) return undefined;
  const mapped = fromUpstream(e, getConfig().summaryDeployment);
  return { code: mapped.code ?? 'upstream_error', message: mapped.message };
}

/** Queues a `document.*` webhook for an API upload outside a job (rejections, permanent create failures). */
async function notifyOwner(
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

/** Whether the blob still has `source`'s ETag (a missing blob is not current). */
async function isCurrentVersion(source: SourceVersion): Promise<boolean> {
  const documents = await container(documentStorageNames().documents);
  try {
    return (await documents.getBlobClient(source.name).getProperties()).etag === source.etag;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

const filenameOf = (blobName: string) => blobName.split('/').pop() || 'document.pdf';

/**
 * Handles one delivery of `documents/<delivery.name>`. Rejections and permanent upstream refusals are recorded
 * and returned; anything transient is thrown (after releasing the claim) so the platform retries the delivery.
 */
export async function processDocumentBlob(
  delivery: BlobDelivery,
  logger: JobLog,
  now = Date.now(),
): Promise<ProcessOutcome> {
  const source: SourceVersion = {
    name: delivery.name,
    etag: delivery.etag,
    lastModified: delivery.lastModified,
    bytes: delivery.data.byteLength,
  };
  const naming = classifyBlobName(delivery.name);
  const base = { blob: delivery.name, etag: delivery.etag, bytes: source.bytes };
  if (naming.kind === 'unsafe') {
    logger.warn(JSON.stringify({ event: LOG_EVENT, outcome: 'ignored', ...base, reason: naming.reason }));
    return { outcome: 'ignored', reason: naming.reason };
  }
  // The recovery row first, due when the lease ends: if this delivery dies after claiming (a crash, a kill, a
  // platform that gives up retrying), the poller finds the claim unfinished then and drives it again. Every
  // outcome below except a transient failure removes it; a leftover row is only a stale hint.
  const lease = leaseMs();
  const recovery = await scheduleDueTask(CLAIM_RECOVERY_TASK, blobKey(delivery.name), now + lease);
  const done = () => cancelDueTask(recovery).catch(() => undefined);
  let claim: Awaited<ReturnType<typeof claimVersion>>;
  try {
    claim = await claimVersion(source, lease, now, () => isCurrentVersion(source));
  } catch (e) {
    await done();
    throw e;
  }
  if (claim.kind !== 'claimed') {
    await done();
    log(logger, { outcome: claim.kind, ...base, state: claim.row.state, current: claim.row.sourceEtag });
    return claim.kind === 'duplicate'
      ? { outcome: 'duplicate', state: claim.row.state }
      : { outcome: 'ignored', reason: 'a newer version of the blob was already received' };
  }
  let row = claim.row;
  const owner = await ownerOf(delivery.name);
  const receivedAt = new Date(row.receivedAt).toISOString();
  const recordFields = { received_at: receivedAt, document_id: owner?.documentId ?? null };

  // Rejections: a normal, final outcome, recorded before any token is spent. When the Files API upload will
  // read this version from storage, the trigger's bytes are not needed after validation: pdf.js takes them
  // instead of a copy (and empties delivery.data).
  const fromStorage = uploadsFromStorage(source, getConfig().filesApiThresholdBytes);
  const rejection =
    naming.kind === 'not-pdf'
      ? reject('not_pdf_name')
      : await validatePdf(delivery.data, getConfig().documentMaxBytes, { consume: fromStorage });
  if (rejection) {
    const record = newRecord(source, 'rejected', {
      ...recordFields,
      error: rejection,
      completed_at: new Date().toISOString(),
    });
    const refused = await writeRecord(naming.recordBlob, record, { otherSources: naming.kind === 'pdf' });
    if (refused)
      logger.warn(
        JSON.stringify({ event: LOG_EVENT, outcome: 'record_not_written', ...base, reason: refused }),
      );
    if (naming.kind === 'pdf') await deleteStaleSummary(naming.summaryBlob, source);
    if (owner) {
      await setDocumentStatus(owner.caller.id, owner.documentId, source.etag, 'rejected', {
        error: errorJson(rejection),
        completedAt: Date.now(),
      });
      await notifyOwner(owner, 'rejected', rejection, source);
    }
    await settleVersion(source.name, source.etag, 'rejected');
    await done();
    log(logger, {
      outcome: 'rejected',
      ...base,
      code: rejection.code,
      caller: owner?.caller.id,
      documentId: owner?.documentId,
    });
    return { outcome: 'rejected', rejection };
  }
  if (naming.kind !== 'pdf') throw new Error('unreachable: only PDF names get past the rejections');

  const config = getConfig();
  const deployment = config.summaryDeployment;
  const filename = owner?.filename ?? filenameOf(delivery.name);
  const input = inputModeFor(source.bytes, config.filesApiThresholdBytes);
  try {
    let response: Response | undefined;
    let reused = false;
    if (row.responseId) {
      response = await findResponse(row.responseId);
      reused = response !== undefined;
    }
    if (!response) {
      let part: ResponseInputFile;
      if (input === 'file_id') {
        if (!row.fileId) {
          const fileId = await retryOn429(() =>
            fromStorage
              ? uploadPdfFromBlob(delivery.name, source.etag, filename)
              : uploadPdf(delivery.data, filename, 0),
          );
          row = (await updateVersion(row, { fileId })) ?? row;
          row.fileId = fileId;
        }
        part = fileIdPart(row.fileId);
      } else {
        part = inlinePdfPart(delivery.data, filename);
      }
      response = await retryOn429(() =>
        getOpenAI().responses.create(
          {
            model: deployment,
            background: true,
            store: true,
            instructions: config.summaryInstructions,
            input: [
              {
                role: 'user',
                content: [
                  part,
                  { type: 'input_text', text: `Summarize the attached document "${filename}".` },
                ],
              },
            ],
            metadata: {
              purpose: 'document_summary',
              source_blob: delivery.name.slice(0, 512),
              source_blob_key: blobKey(delivery.name),
              source_etag: source.etag.slice(0, 512),
              ...(owner ? { document_id: owner.documentId } : {}),
            },
          },
          { maxRetries: 0 },
        ),
      );
      // First thing after the create: a retry of this delivery must find this id.
      const written = await updateVersion(row, { responseId: response.id, deployment });
      if (!written) {
        // Another delivery took the claim over (our lease ran out) or a newer version arrived: it owns the outcome.
        logger.warn(
          JSON.stringify({ event: LOG_EVENT, outcome: 'claim_lost', ...base, responseId: response.id }),
        );
        await getOpenAI()
          .responses.cancel(response.id, { maxRetries: 0 })
          .catch(() => undefined);
        await done();
        return { outcome: 'duplicate', state: 'claim_lost' };
      }
      row = written;
    }
    // Record and status first, then tracking: the finalizer can only run once the job is tracked, so it always
    // writes after these.
    const record = newRecord(source, 'processing', {
      ...recordFields,
      response_id: response.id,
      deployment,
      input,
    });
    await writeRecord(naming.recordBlob, record);
    if (owner) {
      await setDocumentStatus(owner.caller.id, owner.documentId, source.etag, 'processing', {
        responseId: response.id,
        deployment,
        error: '',
      });
      await recordOwnership(owner.caller, response.id, { deployment, background: true });
    }
    await trackBackgroundJob({
      caller: owner?.caller ?? STORAGE_CALLER,
      response,
      kind: 'document',
      deployment,
      webhookUrl: owner?.webhookUrl,
      uploadedFileIds: row.fileId ? [row.fileId] : [],
      extra: {
        blobName: delivery.name,
        sourceEtag: source.etag,
        lastModified: String(source.lastModified),
        bytes: String(source.bytes),
        receivedAt,
        input,
        ...(owner
          ? { documentId: owner.documentId, callerId: owner.caller.id, filename: owner.filename }
          : {}),
      },
    });
    await updateVersion(row, { state: 'tracked', leaseUntil: 0 });
    await done();
    log(logger, {
      outcome: 'submitted',
      ...base,
      responseId: response.id,
      reused,
      input,
      deployment,
      caller: owner?.caller.id,
      documentId: owner?.documentId,
    });
    return { outcome: 'submitted', responseId: response.id, reused, input };
  } catch (e) {
    const permanent = permanentUpstreamError(e);
    if (permanent) {
      await failBeforeJob(naming.recordBlob, naming.summaryBlob, source, row, owner, permanent, recordFields);
      await done();
      logger.warn(JSON.stringify({ event: LOG_EVENT, outcome: 'failed', ...base, code: permanent.code }));
      return { outcome: 'failed', error: permanent };
    }
    // Transient: free the claim at once (keeping any response/file id) so the platform's retry can resume. The
    // recovery row stays: if every retry fails too, the poller resumes the version when it comes due.
    await updateVersion(row, { state: 'released', leaseUntil: 0 }).catch(() => undefined);
    throw e;
  }
}

/** The upstream response `id`, or undefined when upstream no longer has it. */
async function findResponse(id: string): Promise<Response | undefined> {
  try {
    return await getOpenAI().responses.retrieve(id);
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) return undefined;
    throw e;
  }
}

async function failBeforeJob(
  recordBlob: string,
  summaryBlob: string,
  source: SourceVersion,
  row: VersionEntity,
  owner: Owner | undefined,
  error: RecordError,
  fields: { received_at: string; document_id: string | null },
): Promise<void> {
  if (row.fileId) {
    await getOpenAI()
      .files.delete(row.fileId)
      .catch(() => undefined);
  }
  await writeRecord(
    recordBlob,
    newRecord(source, 'failed', {
      ...fields,
      error,
      deployment: getConfig().summaryDeployment,
      completed_at: new Date().toISOString(),
    }),
  );
  await deleteStaleSummary(summaryBlob, source);
  if (owner) {
    await setDocumentStatus(owner.caller.id, owner.documentId, source.etag, 'failed', {
      error: errorJson(error),
      completedAt: Date.now(),
    });
    await notifyOwner(owner, 'failed', error, source);
  }
  await settleVersion(source.name, source.etag, 'failed');
}

/** The text of a response's output messages (`output_text` parts), joined. */
export function outputText(response: Response | undefined): string {
  if (!response) return '';
  const parts: string[] = [];
  for (const item of response.output ?? []) {
    if (item.type !== 'message') continue;
    for (const part of item.content) if (part.type === 'output_text') parts.push(part.text);
  }
  return parts.join('\n\n').trim();
}

function failureOf(ctx: FinalizerContext, text: string): RecordError | undefined {
  const { status, response } = ctx;
  if (status === 'completed')
    return text ? undefined : { code: 'empty_summary', message: 'The model returned no text.' };
  if (response?.error) return { code: response.error.code, message: response.error.message };
  if (status === 'incomplete') {
    const reason = response?.incomplete_details?.reason ?? 'unknown';
    return { code: 'incomplete', message: `The summary is incomplete (${reason}); nothing was written.` };
  }
  if (status === 'expired')
    return { code: 'expired', message: 'The summary did not finish within JOB_MAX_AGE_SECONDS.' };
  if (status === 'cancelled') return { code: 'cancelled', message: 'The summary was cancelled.' };
  return { code: status, message: `The summary ended with status '${status}'.` };
}

/**
 * The `document` job finalizer: writes `summaries/<path>.md` then `<path>.json` (or, on failure, the record
 * with the error and no summary), updates the uploader's document, and names the webhook event. Idempotent:
 * it writes the same blobs and rows however often it runs. A job for a version that a newer upload replaced
 * writes nothing.
 */
export async function finalizeDocument(ctx: FinalizerContext): Promise<FinalizerResult> {
  const { extra, response, job } = ctx;
  const blobName = extra.blobName ?? '';
  const naming = classifyBlobName(blobName);
  const source: SourceVersion = {
    name: blobName,
    etag: extra.sourceEtag ?? '',
    lastModified: Number(extra.lastModified ?? 0),
    bytes: Number(extra.bytes ?? 0),
  };
  const documentId = extra.documentId;
  const callerId = extra.callerId;
  const text = outputText(response);
  let error = failureOf(ctx, text);
  const status = error ? 'failed' : 'completed';
  const base = {
    blob: blobName,
    etag: source.etag,
    responseId: job.responseId,
    documentId,
    caller: callerId,
  };
  const eventData = (extraFields: Record<string, unknown>) =>
    documentId
      ? {
          id: documentId,
          object: 'document',
          response_id: job.responseId,
          filename: extra.filename,
          blob: `${documentStorageNames().documents}/${blobName}`,
          url: documentUrl(documentId),
          ...extraFields,
        }
      : { blob: `${documentStorageNames().documents}/${blobName}`, ...extraFields };

  const current = await readVersion(blobName);
  if (naming.kind !== 'pdf' || !current || current.sourceEtag !== source.etag) {
    ctx.log.warn(
      JSON.stringify({ event: LOG_EVENT, outcome: 'superseded', ...base, current: current?.sourceEtag }),
    );
    error = {
      code: 'superseded',
      message: 'A newer upload of the same blob replaced this version before its summary was ready.',
    };
    if (documentId && callerId) {
      await setDocumentStatus(callerId, documentId, source.etag, 'failed', {
        error: errorJson(error),
        completedAt: Date.now(),
      });
    }
    return {
      eventType: 'document.failed',
      eventData: eventData({ status: 'failed', error, summary_blob: null }),
    };
  }

  const summaries = documentStorageNames().summaries;
  const record: SummaryRecord = newRecord(source, status, {
    received_at: extra.receivedAt ?? new Date(job.createdAt).toISOString(),
    document_id: documentId ?? null,
    response_id: job.responseId,
    deployment: job.deployment,
    input: extra.input === 'file_id' ? 'file_id' : 'file_data',
    usage: response?.usage ?? null,
    error: error ?? null,
    summary_blob: error ? null : naming.summaryBlob,
    completed_at: new Date(job.completedAt ?? Date.now()).toISOString(),
  });
  if (error) {
    await deleteStaleSummary(naming.summaryBlob, source);
  } else if (!(await writeSummary(naming.summaryBlob, text, source))) {
    ctx.log.warn(
      JSON.stringify({
        event: LOG_EVENT,
        outcome: 'summary_not_written',
        ...base,
        reason: 'newer summary present',
      }),
    );
  }
  const refused = await writeRecord(naming.recordBlob, record);
  if (refused)
    ctx.log.warn(
      JSON.stringify({ event: LOG_EVENT, outcome: 'record_not_written', ...base, reason: refused }),
    );
  await settleVersion(blobName, source.etag, status);
  if (documentId && callerId) {
    await setDocumentStatus(callerId, documentId, source.etag, status, {
      error: errorJson(error),
      usage: response?.usage ? JSON.stringify(response.usage) : '',
      completedAt: job.completedAt ?? Date.now(),
      summaryBlob: error ? '' : naming.summaryBlob,
    });
  }
  log(ctx.log, {
    outcome: status,
    ...base,
    code: error?.code,
    deployment: job.deployment,
    inputTokens: response?.usage?.input_tokens,
    outputTokens: response?.usage?.output_tokens,
  });
  return {
    eventType: error ? 'document.failed' : 'document.summarized',
    eventData: eventData({
      status,
      error: error ?? null,
      summary_blob: error ? null : `${summaries}/${naming.summaryBlob}`,
    }),
  };
}
