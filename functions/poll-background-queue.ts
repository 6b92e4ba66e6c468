import { app, type InvocationContext } from '@azure/functions';
import { runPollMessage } from '../shared/jobs';
import { QUEUES } from '../shared/platform/storage';

/**
 * Polls one claimed background job (a message the poller timer sent) and finalizes it if it ended. Runs on every
 * instance, so polling scales out. A throw makes the host retry the message, and after `maxDequeueCount`
 * (host.json) move it to `poll-work-poison`; the job itself comes due again and a later tick claims it afresh.
 */
export async function pollBackgroundQueue(message: unknown, context: InvocationContext): Promise<void> {
  try {
    const stats = await runPollMessage(message, context);
    if (stats.errors > 0 || stats.throttled > 0)
      context.log(JSON.stringify({ event: 'poller.work', ...stats }));
  } catch (e) {
    context.error(
      `poll work failed (attempt ${JSON.stringify(context.triggerMetadata?.dequeueCount ?? null)}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    );
    throw e;
  }
}

app.storageQueue('poll-background-queue', {
  queueName: QUEUES.pollWork,
  connection: 'AzureWebJobsStorage',
  handler: pollBackgroundQueue,
});
