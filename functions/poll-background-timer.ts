import { app, type InvocationContext, type Timer } from '@azure/functions';
import { registerJobUsageTasks, runPollerTick, sendPollWork } from '../shared/jobs';
import { registerLimitsTasks } from '../shared/limits';

/**
 * Selects the background jobs that are due, claims each, and puts one message per job on the poll queue; the
 * queue-triggered function (poll-background-queue.ts) polls them, on every instance the app scales out to. Work
 * is idempotent: ticks may overlap, and a timer may fire on several instances.
 */
export async function pollBackgroundTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  try {
    const stats = await runPollerTick({ log: context, dispatch: sendPollWork });
    if (stats.due > 0 || stats.errors > 0) context.log(JSON.stringify({ event: 'poller.tick', ...stats }));
  } catch (e) {
    context.error(`poller tick failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    throw e;
  }
}

app.timer('poll-background-timer', { schedule: '%POLL_SCHEDULE%', handler: pollBackgroundTimer });

// The usage ledger's read-back of cancelled jobs and the limits table's sweep run as due tasks, which the poller runs.
registerJobUsageTasks();
registerLimitsTasks();
