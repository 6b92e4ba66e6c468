/** Background jobs: the API the HTTP handlers, the timers and the documents feature call. */
export {
  trackBackgroundJob,
  terminalResponseFromJob,
  recordCancel,
  deleteJob,
  listJobs,
  parseListJobsQuery,
  type TrackRequest,
  type ListJobsOptions,
} from './api';
export { runPollerTick, type PollerTickOptions, type PollerTickStats } from './poller';
export { runPollMessage, sendPollWork, type PollMessage } from './poll-queue';
export type { PollStats, PollWork } from './poll-work';
export { registerJobFinalizer } from './finalizers';
export {
  handleUpstreamWebhook,
  UPSTREAM_EVENT_TYPES,
  type UpstreamEventOutcome,
  type UpstreamEventResult,
} from './upstream-events';
export { registerJobUsageTasks } from './usage';
export type {
  FinalizerContext,
  FinalizerResult,
  JobFinalizer,
  JobKind,
  JobList,
  JobLog,
  JobStatus,
  JobView,
} from './types';
