/**
 * A finished job in the usage ledger (shared/usage/ledger.ts), charged to the job's caller (a document's
 * uploader, or the documents caller for a blob dropped straight into storage), in the hour the job was created
 * (the same on every re-run of its finalization).
 *
 * A cancelled or expired job is the one case where the response in hand may not be what upstream bills: a
 * cancel is a request, and Azure sometimes acknowledges it and completes the response anyway (the emulator's
 * `cancel_then_completed`). So its usage is read back from upstream; while upstream still runs it, a due task
 * (`usage-settle`, run by the poller like every due task, so it survives restarts) asks again later, and after
 * MAX_SETTLE_ATTEMPTS records what the cancel answered.
 */
import type { Response } from 'openai/resources/responses/responses';
import { getOpenAI } from '../platform/clients';
import { isUpstreamError } from '../platform/errors';
import { registerDueTask, scheduleDueTask, type DueTaskContext } from '../platform/scheduling/due-tasks';
import { writeUsage, type UsageEntry, type UsageKind } from '../usage/ledger';
import { parseJson } from './store';
import type { JobEntity, TerminalStatus } from './types';

export const USAGE_SETTLE_TASK = 'usage-settle';
/** About 40 minutes of asking, the waits doubling from 2 s up to 5 min. */
const MAX_SETTLE_ATTEMPTS = 15;
const settleDelayMs = (attempt: number) => Math.min(2_000 * 2 ** (attempt - 1), 300_000);

/** The job's ledger entry. Usage: the final response's, else what the terminal claim recorded. */
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

/** Upstream's final response, `'running'` while it is not final (or cannot be read now), undefined when gone. */
async function upstreamFinal(responseId: string): Promise<Response | 'running' | undefined> {
  try {
    const response = await getOpenAI().responses.retrieve(responseId, undefined, {
      maxRetries: 0,
      timeout: 10_000,
    });
    return ['queued', 'in_progress'].includes(response.status ?? '') ? 'running' : response;
  } catch (e) {
    if (isUpstreamError(e) && e.status === 404) return undefined;
    return 'running';
  }
}

/** Records a finished job (part of finalization step 1; throws when storage fails, so the step is retried). */
export async function recordJobUsage(
  job: JobEntity,
  status: TerminalStatus,
  response: Response | undefined,
  now = Date.now(),
): Promise<void> {
  const entry = ledgerEntry(job, status, response);
  if (status !== 'cancelled' && status !== 'expired') {
    await writeUsage(entry);
    return;
  }
  const final = await upstreamFinal(job.responseId);
  if (final === 'running') {
    await scheduleDueTask(USAGE_SETTLE_TASK, taskName(entry, 1), now + settleDelayMs(1));
    return;
  }
  await writeUsage({ ...entry, usage: final?.usage ?? entry.usage });
}

// The task's name carries the whole entry (the due index keeps nothing else): `|`-separated, URL-encoded.
function taskName(entry: UsageEntry, attempt: number): string {
  const u = entry.usage ?? {};
  const tokens = [
    u.input_tokens ?? 0,
    u.input_tokens_details?.cached_tokens ?? 0,
    u.output_tokens ?? 0,
    u.output_tokens_details?.reasoning_tokens ?? 0,
  ].join('.');
  return [
    entry.responseId,
    entry.callerId,
    entry.deployment,
    entry.createdAt,
    entry.kind,
    entry.status,
    tokens,
    attempt,
  ]
    .map((part) => encodeURIComponent(String(part)))
    .join('|');
}

function parseTaskName(name: string): { entry: UsageEntry; attempt: number } | undefined {
  const parts = name.split('|').map(decodeURIComponent);
  if (parts.length !== 8) return undefined;
  const [responseId, callerId, deployment, createdAt, kind, status, tokens, attempt] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const [input, cached, output, reasoning] = tokens.split('.').map(Number);
  return {
    entry: {
      responseId,
      callerId,
      deployment,
      createdAt: Number(createdAt),
      kind: kind as UsageKind,
      status,
      usage: {
        input_tokens: input,
        input_tokens_details: { cached_tokens: cached },
        output_tokens: output,
        output_tokens_details: { reasoning_tokens: reasoning },
      },
    },
    attempt: Number(attempt),
  };
}

/** The `usage-settle` due task: records a cancelled job's usage once upstream has really stopped it. */
async function settleUsage(ctx: DueTaskContext): Promise<'ran' | 'skipped'> {
  const parsed = parseTaskName(ctx.name);
  if (!parsed) return 'skipped';
  const { entry, attempt } = parsed;
  const final = await upstreamFinal(entry.responseId);
  if (final === 'running' && attempt < MAX_SETTLE_ATTEMPTS) {
    await scheduleDueTask(
      USAGE_SETTLE_TASK,
      taskName(entry, attempt + 1),
      ctx.now + settleDelayMs(attempt + 1),
    );
    return 'ran';
  }
  if (final === 'running')
    ctx.log.warn(
      JSON.stringify({ event: 'usage.settle_gave_up', responseId: entry.responseId, attempts: attempt }),
    );
  await writeUsage(final && final !== 'running' ? { ...entry, usage: final.usage ?? entry.usage } : entry);
  return 'ran';
}

/** Registers the `usage-settle` due task (idempotent); the poller's function calls it at load. */
export function registerJobUsageTasks(): void {
  registerDueTask(USAGE_SETTLE_TASK, settleUsage);
}
