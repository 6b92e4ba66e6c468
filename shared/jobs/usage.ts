/** A finished job as the usage ledger records it (shared/usage/ledger.ts). */
import type { Response } from 'openai/resources/responses/responses';
import type { UsageEntry } from '../usage/ledger';
import { parseJson } from './store';
import type { JobEntity, TerminalStatus } from './types';

/**
 * The job's ledger entry, charged to the job's caller (a document's uploader, or the documents caller for a
 * blob dropped straight into storage). The hour is the job's creation: the same on every re-run. Usage: the
 * final response's, else what the terminal claim recorded.
 */
export function ledgerEntry(
  job: JobEntity,
  status: TerminalStatus,
  response: Response | undefined,
): UsageEntry {
  return {
    responseId: job.responseId,
    callerId: job.callerId,
    deployment: job.deployment,
    createdAt: job.createdAt,
    status,
    kind: job.kind === 'document' ? 'document' : 'background',
    usage: response?.usage ?? parseJson<NonNullable<Response['usage']>>(job.usage),
  };
}
