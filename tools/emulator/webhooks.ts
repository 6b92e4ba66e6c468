/**
 * The webhooks Azure OpenAI sends when a background response ends (the "Azure OpenAI in Foundry Models
 * webhooks" how-to): a POST of `{object:"event", id, type, created_at, data:{id}}` with the Standard Webhooks
 * headers `webhook-id`, `webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
 * `<id>.<timestamp>.<body>` under the endpoint's `whsec_` secret), signed with the `standardwebhooks` library.
 *
 * Like the service, a delivery that does not get a 2xx is tried again with growing delays; every attempt carries
 * the same `webhook-id` and a fresh timestamp and signature. Knobs for tests: a delay before the first attempt,
 * extra copies of every event (a duplicate storm), and `send` (`POST /_emulator/webhooks/send`) to deliver any
 * event for any response at once, optionally forged (another secret) or stale (an old timestamp).
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The event types the service sends when a background response ends. */
export const RESPONSE_EVENT_TYPES = [
  'response.completed',
  'response.failed',
  'response.cancelled',
  'response.incomplete',
] as const;

export interface WebhookSenderOptions {
  /** Where events go; empty: nothing is sent. */
  url: string;
  /** The endpoint's signing secret (`whsec_<base64>`). */
  secret: string;
  /** Attempts per event before it is given up. */
  maxAttempts: number;
  /** Delay before the second attempt; it doubles for each one after. */
  retryBaseMs: number;
  /** Wait before the first attempt of every event (a slow sender). */
  delayMs: number;
  /** Extra copies of every event, same `webhook-id`, sent alongside the first (a duplicate storm). */
  duplicates: number;
}

/** One attempt, as `GET /_emulator/webhooks` lists them. */
export interface DeliveryAttempt {
  webhookId: string;
  type: string;
  responseId: string;
  attempt: number;
  /** HTTP status, or 0 when the request failed (connection refused, timeout). */
  status: number;
  at: number;
}

export interface SendSpec {
  responseId: string;
  type: string;
  /** Reuse an id (a redelivery); default a new `evt_` id. */
  webhookId?: string;
  /** Sign with this secret instead (a forgery). */
  secret?: string;
  /** Shift `webhook-timestamp` by this many seconds (negative: a stale, replayed delivery). */
  timestampOffsetSeconds?: number;
  /** Copies sent at once. Default 1. */
  copies?: number;
}

/** A new Standard Webhooks secret in the format Azure OpenAI returns (`whsec_` + base64 of 32 bytes). */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** The body and headers of one signed delivery. */
export function signedDelivery(
  event: { id: string; type: string; created_at: number; data: { id: string } },
  secret: string,
  webhookId: string,
  timestamp: Date = new Date(),
): { body: string; headers: Record<string, string> } {
  const body = JSON.stringify({ object: 'event', ...event });
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'user-agent': 'OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)',
      'webhook-id': webhookId,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(webhookId, timestamp, body),
    },
  };
}

const MAX_LOGGED = 5000;

export class WebhookSender {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly attempts: DeliveryAttempt[] = [];
  private closed = false;

  constructor(private readonly options: WebhookSenderOptions) {}

  get enabled(): boolean {
    return !!this.options.url && !!this.options.secret;
  }

  /** A background response ended: its event goes out (with retries), copies included. */
  responseEnded(responseId: string, status: string | undefined): void {
    const type = `response.${status}`;
    if (!this.enabled || !(RESPONSE_EVENT_TYPES as readonly string[]).includes(type)) return;
    const event = {
      id: newEventId(),
      type,
      created_at: Math.floor(Date.now() / 1000),
      data: { id: responseId },
    };
    for (let copy = 0; copy <= this.options.duplicates; copy++) {
      this.later(this.options.delayMs, () => this.attempt(event, 1));
    }
  }

  /** Delivers one event now, once per copy, without retries; answers each attempt. */
  async send(spec: SendSpec): Promise<DeliveryAttempt[]> {
    if (!this.options.url) throw new Error('The emulator has no webhook URL (--webhook-url).');
    const event = {
      id: spec.webhookId ?? newEventId(),
      type: spec.type,
      created_at: Math.floor(Date.now() / 1000),
      data: { id: spec.responseId },
    };
    const at = new Date(Date.now() + (spec.timestampOffsetSeconds ?? 0) * 1000);
    const copies = Array.from({ length: Math.max(1, spec.copies ?? 1) }, () =>
      this.post(event, 1, spec.secret ?? this.options.secret, at),
    );
    return Promise.all(copies);
  }

  list(): DeliveryAttempt[] {
    return [...this.attempts];
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private later(ms: number, run: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, ms);
    this.timers.add(timer);
  }

  private async attempt(event: Parameters<typeof signedDelivery>[0], n: number): Promise<void> {
    if (this.closed) return;
    const result = await this.post(event, n, this.options.secret, new Date());
    const ok = result.status >= 200 && result.status < 300;
    if (!ok && n < this.options.maxAttempts) {
      this.later(this.options.retryBaseMs * 2 ** (n - 1), () => this.attempt(event, n + 1));
    }
  }

  private async post(
    event: Parameters<typeof signedDelivery>[0],
    attempt: number,
    secret: string,
    at: Date,
  ): Promise<DeliveryAttempt> {
    const { body, headers } = signedDelivery(event, secret, event.id, at);
    let status: number;
    try {
      // The how-to asks receivers to answer within 10 s.
      const res = await fetch(this.options.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    const record: DeliveryAttempt = {
      webhookId: event.id,
      type: event.type,
      responseId: event.data.id,
      attempt,
      status,
      at: Date.now(),
    };
    this.attempts.push(record);
    if (this.attempts.length > MAX_LOGGED) this.attempts.shift();
    return record;
  }
}

const newEventId = () => `evt_${randomBytes(16).toString('hex')}`;
