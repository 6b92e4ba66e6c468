/**
 * The documents feature's background work, plugged into the poller: finalizing a `document` job (writing the
 * summary) and recovering a version claim whose delivery died. The feature's blob trigger registers them at load;
 * every instance loads every function file, so whichever instance runs the poller has them.
 */
import { registerJobFinalizer } from '../jobs/finalizers';
import { registerDueTask } from '../platform/scheduling/due-tasks';
import { CLAIM_RECOVERY_TASK } from './names';
import { finalizeDocument } from './finalize';
import { recoverDocumentClaim } from './recovery';

/** Registers the `document` job finalizer and the claim recovery task (idempotent). */
export function registerDocumentTasks(): void {
  registerJobFinalizer('document', finalizeDocument);
  registerDueTask(CLAIM_RECOVERY_TASK, recoverDocumentClaim);
}
