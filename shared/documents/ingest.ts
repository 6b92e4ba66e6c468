/**
 * What happens to a blob in `documents/`: classify the name, claim the version, validate, start a background
 * summary on the summary deployment, track it as a `document` job. The job's finalizer (finalize.ts) writes the
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
import { safetyIdentifier } from '../callers/safety';
import { getOpenAI } from '../platform/clients';
import { getConfig } from '../platform/config';
import { fromUpstream, isUpstreamError } from '../platform/errors';
import { retryOn429 } from '../platform/retry';
import { container, isNotFound } from '../platform/storage';
import { cancelDueTask, scheduleDueTask } from '../platform/scheduling/due-tasks';
import { trackBackgroundJob } from '../jobs';
import type { Log } from '../platform/log';
import {
  fileIdPart,
  inlinePdfPart,
  inputModeFor,
  uploadPdf,
  uploadPdfFromBlob,
  uploadsFromStorage,
} from './input';
import { LOG_EVENT, logDocument } from './log';
import { blobKey, classifyBlobName } from './naming';
import { CLAIM_RECOVERY_TASK, documentStorageNames } from './names';
import { notifyOwner, ownerOf, STORAGE_CALLER, type Owner } from './owner';
import { deleteStaleSummary, newRecord, writeRecord, type RecordError, type SourceVersion } from './records';
import {
  claimVersion,
  errorJson,
  setDocumentStatus,
  settleVersion,
  updateVersion,
  type VersionEntity,
} from './store';
import { reject, validatePdf, type Rejection } from './validate';

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

/** How long one delivery may hold a claim before another delivery of the same version may take it over. */
export function leaseMs(): number {
  const config = getConfig();
  // An upload and a create, each with its retries, plus a margin.
  return 2 * config.openaiTimeoutMs * (config.openaiMaxRetries + 1) + 60_000;
}

/** An upstream answer that retrying will not change (a 4xx other than 408/409/429). */
function permanentUpstreamError(e: unknown): RecordError | undefined {
  if (!isUpstreamError(e) || e.status === undefined) return undefined;
  if (e.status < 400 || e.status >= 500 || [408, 409, 429].includes(e.status)) return undefined;
  const mapped = fromUpstream(e, getConfig().summaryDeployment);
  return { code: mapped.code ?? 'upstream_error', message: mapped.message };
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
  logger: Log,
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
  // A recovery row left behind is a stale hint (the recovery task finds the version settled and skips it), so a
  // failed delete is logged, not fatal.
  const done = () =>
    cancelDueTask(recovery).catch((e: unknown) =>
      logger.warn(
        JSON.stringify({
          event: LOG_EVENT,
          outcome: 'recovery_row_kept',
          blob: delivery.name,
          error: String(e),
        }),
      ),
    );
  let claim: Awaited<ReturnType<typeof claimVersion>>;
  try {
    claim = await claimVersion(source, lease, now, () => isCurrentVersion(source));
  } catch (e) {
    await done();
    throw e;
  }
  if (claim.kind !== 'claimed') {
    await done();
    logDocument(logger, {
      outcome: claim.kind,
      ...base,
      state: claim.row.state,
      current: claim.row.sourceEtag,
    });
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
    logDocument(logger, {
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
            // The summary's tokens are the uploader's (or the documents caller's): so is its abuse identity.
            safety_identifier: safetyIdentifier(owner?.caller ?? STORAGE_CALLER),
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
          .catch((e: unknown) =>
            logger.warn(
              JSON.stringify({
                event: LOG_EVENT,
                outcome: 'cancel_failed',
                responseId: response?.id,
                error: String(e),
              }),
            ),
          );
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
    logDocument(logger, {
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
      await failBeforeJob(
        naming.recordBlob,
        naming.summaryBlob,
        source,
        row,
        owner,
        permanent,
        recordFields,
        logger,
      );
      await done();
      logger.warn(JSON.stringify({ event: LOG_EVENT, outcome: 'failed', ...base, code: permanent.code }));
      return { outcome: 'failed', error: permanent };
    }
    // Transient: free the claim at once (keeping any response/file id) so the platform's retry can resume. The
    // recovery row stays: if every retry fails too, the poller resumes the version when it comes due.
    // If this write fails too, the claim runs out with its lease instead; `e` is what the platform must see.
    await updateVersion(row, { state: 'released', leaseUntil: 0 }).catch((releaseError: unknown) =>
      logger.warn(
        JSON.stringify({ event: LOG_EVENT, outcome: 'release_failed', ...base, error: String(releaseError) }),
      ),
    );
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
  logger: Log,
): Promise<void> {
  if (row.fileId) {
    // The upload is no use any more; one left behind expires upstream, so a failed delete is only logged.
    const fileId = row.fileId;
    await getOpenAI()
      .files.delete(fileId)
      .catch((e: unknown) =>
        logger.warn(
          JSON.stringify({ event: LOG_EVENT, outcome: 'file_delete_failed', fileId, error: String(e) }),
        ),
      );
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
