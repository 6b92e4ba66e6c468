/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com/, the scheme OpenAI's own webhooks use), made
 * by the `standardwebhooks` library: `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
 * keyed with the base64 part of the `whsec_...` secret. Receivers verify with any Standard Webhooks library.
 */
import { randomBytes } from 'node:crypto';
import { standardWebhooksSdk } from '../platform/sdk';

/** A new signing secret: `whsec_` + 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** `v1,<signature>` for one message. `timestamp` is unix seconds. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  const { Webhook } = standardWebhooksSdk();
  return new Webhook(secret).sign(id, new Date(timestamp * 1000), body);
}

/** The three headers of a signed delivery. `now` is epoch ms (the time of this attempt, not of the event). */
export function webhookHeaders(
  secret: string,
  id: string,
  body: string,
  now = Date.now(),
): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}
