/**
 * The Idempotency-Key feature's background work: each recorded result schedules its key's expiry on the due
 * index, and the poller runs it here. The create function registers it at load; every instance loads every
 * function file, so whichever instance runs the poller has it.
 */
import { registerDueTask } from '../platform/scheduling/due-tasks';
import { IDEMPOTENCY_EXPIRY_TASK, purgeExpiredKey } from './keys';

/** Registers the Idempotency-Key expiry task (idempotent). */
export function registerIdempotencyTasks(): void {
  registerDueTask(IDEMPOTENCY_EXPIRY_TASK, purgeExpiredKey);
}
