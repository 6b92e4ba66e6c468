/**
 * Plugs features into the background poller without loading them. Every instance imports functions/index.ts at
 * startup, while the code behind these hooks (jobs, clients, PDF handling) is needed only when a document job
 * ends or a due task comes due; importing it then keeps it off the cold start.
 */
import { registerDueTask } from './platform/scheduling/due-tasks';
import { registerJobFinalizer } from './jobs/finalizers';

/** Due-task prefix of a document version's claim recovery (name: the version row's PartitionKey). */
export const CLAIM_RECOVERY_TASK = 'document-claim';
/** Due-task prefix of an Idempotency-Key's expiry (name: `<url-encoded caller id>|<row key>`). */
export const IDEMPOTENCY_EXPIRY_TASK = 'idempotency-expiry';

// `import()` rather than `require` so that test runners transforming TypeScript can follow it too.
const documents = () => import('./documents/process.js');
const recovery = () => import('./documents/recovery.js');
const idempotency = () => import('./idempotency/keys.js');

/**
 * Registers the `document` job finalizer, the document claim recovery and the Idempotency-Key expiry (once
 * per process, at load).
 */
export function registerBackgroundHooks(): void {
  registerJobFinalizer('document', async (ctx) => (await documents()).finalizeDocument(ctx));
  registerDueTask(CLAIM_RECOVERY_TASK, async (ctx) => (await recovery()).recoverDocumentClaim(ctx));
  registerDueTask(IDEMPOTENCY_EXPIRY_TASK, async (ctx) => (await idempotency()).purgeExpiredKey(ctx));
}
