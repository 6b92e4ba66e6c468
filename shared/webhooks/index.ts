/** Completion webhooks: registration (keys tool), per-request targets, events, the delivery queue. */
export {
  registerWebhook,
  removeWebhook,
  getWebhookRegistration,
  resolveWebhookTarget,
  type WebhookRegistration,
} from './registration';
export {
  buildEvent,
  eventId,
  publicBaseUrl,
  responseUrl,
  WEBHOOK_EVENT_TYPES,
  type WebhookEvent,
  type WebhookEventType,
} from './events';
export {
  enqueueWebhookEvent,
  getDelivery,
  runWebhookTick,
  type EnqueueRequest,
  type WebhookTickOptions,
  type WebhookTickStats,
} from './delivery';
export { newWebhookSecret, signWebhook, webhookHeaders } from './signing';
