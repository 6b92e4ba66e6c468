/**
 * The `document` job finalizer: when the poller sees a summary response end, it writes the summary and record
 * and updates the uploader's document.
 */
import type { Response } from 'openai/resources/responses/responses';
import type { FinalizerContext, FinalizerResult } from '../jobs';
import { sealForCaller } from '../platform/caller-ids';
import { LOG_EVENT, logDocument } from './log';
import { classifyBlobName } from './naming';
import { documentStorageNames } from './names';
import { documentUrl } from './owner';
import {
  deleteStaleSummary,
  newRecord,
  writeRecord,
  writeSummary,
  type RecordError,
  type SourceVersion,
  type SummaryRecord,
} from './records';
import { errorJson, readVersion, setDocumentStatus, settleVersion } from './store';

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
    if (reason === 'content_filter') {
      return {
        code: 'content_filter',
        message:
          "Azure OpenAI's content filter stopped the summary (incomplete_details.reason: content_filter); nothing was written.",
      };
    }
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
          // The summary response as the uploader holds it (sealed for them).
          response_id: callerId ? sealForCaller(callerId, job.responseId) : job.responseId,
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
  logDocument(ctx.log, {
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
