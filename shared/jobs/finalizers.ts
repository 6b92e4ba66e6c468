/**
 * Per-kind finalization hooks. The documents feature registers one for kind `document` (writing the summary);
 * kind `response` needs none. A hook runs after the final response JSON and images are stored and before the
 * completion webhook is queued. It may run more than once for the same job (a crash or a failed step is retried
 * by the next tick), so it must be idempotent: write the same blob names, upsert rows.
 */
import type { JobFinalizer, JobKind } from './types';

const finalizers = new Map<JobKind, JobFinalizer>();

/** Registers the finalization hook of `kind` (one per kind; registering again replaces it). */
export function registerJobFinalizer(kind: JobKind, finalizer: JobFinalizer): void {
  finalizers.set(kind, finalizer);
}

export function jobFinalizer(kind: JobKind): JobFinalizer | undefined {
  return finalizers.get(kind);
}

/** Test seam: forget a registered hook. */
export function unregisterJobFinalizer(kind: JobKind): void {
  finalizers.delete(kind);
}
