/**
 * Completion events, shaped like OpenAI's webhook events:
 * `{ id, object: 'event', type, created_at, data: { id, ... } }`. They say what happened and where to fetch
 * the result; they never carry output text.
 */
import { createHash } from 'node:crypto';
import { getConfig } from '../platform/config';

export type WebhookEventType =
  | 'response.completed'
  | 'response.failed'
  | 'response.cancelled'
  | 'response.incomplete'
  | 'response.expired'
  | 'document.summarized'
  | 'document.failed';

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  'response.completed',
  'response.failed',
  'response.cancelled',
  'response.incomplete',
  'response.expired',
  'document.summarized',
  'document.failed',
];

export interface WebhookEvent {
  id: string;
  object: 'event';
  type: WebhookEventType;
  /** Unix seconds. */
  created_at: number;
  data: { id: string } & Record<string, unknown>;
}

/**
 * The event id is derived from what the event is about, so enqueueing the same event twice (a finalization
 * retried after a crash) finds the first one instead of notifying twice.
 */
export function eventId(subjectId: string, type: string): string {
  return `evt_${createHash('sha256').update(`${subjectId}\n${type}`).digest('hex').slice(0, 32)}`;
}

export function buildEvent(
  type: WebhookEventType,
  data: WebhookEvent['data'],
  now = Date.now(),
): WebhookEvent {
  return { id: eventId(data.id, type), object: 'event', type, created_at: Math.floor(now / 1000), data };
}

/**
 * The base URL callers reach this app at: PUBLIC_BASE_URL, else `https://$WEBSITE_HOSTNAME` (set by the
 * Functions platform, see https://learn.microsoft.com/azure/app-service/reference-app-settings), else the local
 * host's default.
 */
export function publicBaseUrl(): string {
  const configured = getConfig().publicBaseUrl;
  if (configured) return configured;
  const hostname = process.env.WEBSITE_HOSTNAME?.trim();
  if (hostname) return `https://${hostname}`;
  return 'http://localhost:7071';
}

/** Link to retrieve a response through this app. */
export const responseUrl = (responseId: string) => `${publicBaseUrl()}/api/v1/responses/${responseId}`;
