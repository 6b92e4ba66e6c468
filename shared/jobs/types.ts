/** Types of the background job store. */
import type { Log } from '../platform/log';
import type { Response, ResponseUsage } from 'openai/resources/responses/responses';

export type JobKind = 'response' | 'document';
export const JOB_KINDS: readonly JobKind[] = ['response', 'document'];

/** Upstream statuses plus `expired` (the gateway gave up after JOB_MAX_AGE_SECONDS). */
export type JobStatus =
  'queued' | 'in_progress' | 'completed' | 'failed' | 'cancelled' | 'incomplete' | 'expired';
export const JOB_STATUSES: readonly JobStatus[] = [
  'queued',
  'in_progress',
  'completed',
  'failed',
  'cancelled',
  'incomplete',
  'expired',
];

export type TerminalStatus = Exclude<JobStatus, 'queued' | 'in_progress'>;
const TERMINAL = new Set<string>(['completed', 'failed', 'cancelled', 'incomplete', 'expired']);
export const isTerminal = (status: string | null | undefined): status is TerminalStatus =>
  TERMINAL.has(status ?? '');

/**
 * Where a job is in its life: `running` (polled upstream) → `finalizing` (terminal status claimed under an
 * ETag, finalization steps under a lease) → `finalized` (everything done; nothing touches it again).
 */
export type JobPhase = 'running' | 'finalizing' | 'finalized';

/** Finalization steps, recorded on the job row as they complete so a retry skips them. */
export type FinalizeStep = 'stored' | 'hook';

export interface JobError {
  code: string;
  message: string;
}

/** The job row: table `jobs`, PartitionKey = response id, RowKey = `job`. Times are epoch ms. */
export interface JobEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  responseId: string;
  callerId: string;
  callerName: string;
  kind: JobKind;
  deployment: string;
  status: JobStatus;
  phase: JobPhase;
  createdAt: number;
  updatedAt: number;
  completedAt?: number;
  /** When the job is next looked at (poll, or finalization lease end). */
  nextPollAt: number;
  /** RowKey of the due-index row that is current; any other index row for this job is stale. */
  dueKey: string;
  pollCount: number;
  /** JSON of {@link JobError}: the terminal error, or the last transient polling error while running. */
  lastError?: string;
  /** JSON of the upstream `usage`, written once, when the terminal status is claimed. */
  usage?: string;
  webhookUrl?: string;
  /** JSON array of Files API ids deleted upstream at finalization. */
  uploadedFileIds?: string;
  /** JSON object of string values the job's creator attached (e.g. the document blob name). */
  extra?: string;
  /** The caller cancelled: an upstream `completed` seen later does not flip the job back. */
  cancelRequested?: boolean;
  /** Finalization lease: until then, only the holder works on the job. */
  leaseUntil?: number;
  leaseOwner?: string;
  /** Comma-separated {@link FinalizeStep}s already done. */
  steps?: string;
  /** JSON of the {@link FinalizerResult} of the kind's hook, kept so a retried finalization still has it. */
  hookResult?: string;
  /** JSON of the error that interrupted the last finalization attempt (it is retried). */
  finalizeError?: string;
  /** Bumped on every write; the listing row copies a job only when its version is newer. */
  version: number;
}

/** A job as callers see it (`GET /api/v1/jobs`). Times are unix seconds like OpenAI's `created_at`. */
export interface JobView {
  id: string;
  object: 'background_job';
  kind: JobKind;
  status: JobStatus;
  deployment: string;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
  error: JobError | null;
  usage: ResponseUsage | null;
}

export interface JobList {
  object: 'list';
  data: JobView[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

export type JobLog = Log;

/** What a per-kind finalizer gets. It may run more than once for a job (crash, retry): make it idempotent. */
export interface FinalizerContext {
  job: Readonly<JobEntity>;
  status: TerminalStatus;
  /** The final response, when one is available (it is not when the response is gone upstream). */
  response: Response | undefined;
  extra: Record<string, string>;
  log: JobLog;
}

/** A finalizer may replace the completion event's type and add fields to its `data`. */
export interface FinalizerResult {
  eventType?: string;
  eventData?: Record<string, unknown>;
}

export type JobFinalizer = (ctx: FinalizerContext) => Promise<FinalizerResult | void>;
