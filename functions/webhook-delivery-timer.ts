import { app, type InvocationContext, type Timer } from '@azure/functions';
import { runWebhookTick } from '../shared/webhooks';

/**
 * Sends the completion webhooks that are due. A timer of its own rather than the tail of the poller's tick:
 * slow or unreachable receivers (up to WEBHOOK_TIMEOUT_MS each) must not eat the poller's time budget.
 */
export async function webhookDeliveryTimer(_timer: Timer, context: InvocationContext): Promise<void> {
  try {
    const stats = await runWebhookTick({ log: context });
    if (stats.due > 0 || stats.errors > 0) context.log(JSON.stringify({ event: 'webhooks.tick', ...stats }));
  } catch (e) {
    context.error(`webhook delivery tick failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    throw e;
  }
}

app.timer('webhook-delivery-timer', { schedule: '%WEBHOOK_SCHEDULE%', handler: webhookDeliveryTimer });
