import { app, type InvocationContext, type Timer } from '@azure/functions';
import { registerJobUsageTasks, runPollerTick } from '../shared/jobs';

/** Polls the background jobs that are due, finalizes the ones that ended. Work is idempotent: ticks may overlap. */
export async function pollBackgroundTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  try {
    const stats = await runPollerTick({ log: context });
    if (stats.due > 0 || stats.errors > 0) context.log(JSON.stringify({ event: 'poller.tick', ...stats }));
  } catch (e) {
    context.error(`poller tick failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    throw e;
  }
}

app.timer('poll-background-timer', { schedule: '%POLL_SCHEDULE%', handler: pollBackgroundTimer });

// The usage ledger's read-back of cancelled jobs runs as a due task, which the poller runs.
registerJobUsageTasks();
