/**
 * Plugs the documents feature into the background poller without loading it. Every instance imports
 * functions/index.ts at startup, while the pipeline behind these hooks (jobs, clients, PDF handling) is needed
 * only when a document job ends or a claim comes due; requiring it then keeps it off the cold start.
 */
import { registerDueTask } from '../jobs/due-tasks';
import { registerJobFinalizer } from '../jobs/finalizers';

/** Due-task prefix of a document version's claim recovery (name: the version row's PartitionKey). */
export const CLAIM_RECOVERY_TASK = 'document-claim';

// `import()` rather than `require` so that test runners transforming TypeScript can follow it too.
const processModule = () => import('./process.js');
const recoveryModule = () => import('./recovery.js');

/** Registers the `document` job finalizer and the claim recovery task (once per process, at load). */
export function registerDocumentHooks(): void {
  registerJobFinalizer('document', async (ctx) => (await processModule()).finalizeDocument(ctx));
  registerDueTask(CLAIM_RECOVERY_TASK, async (ctx) => (await recoveryModule()).recoverDocumentClaim(ctx));
}
