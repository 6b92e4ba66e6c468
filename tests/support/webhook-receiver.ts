/**
 * A caller's webhook endpoint, for tests: an HTTP server on 127.0.0.1 that answers 204 and records every delivery
 * (headers, raw body, parsed event), checked against the signing secret the caller's registration returned.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface WebhookEvent {
  type: string;
  data: { id: string; status?: string };
}

export interface ReceivedWebhook {
  /** The `webhook-id` header. */
  id: string;
  headers: Record<string, string>;
  body: string;
  /** The body parsed (a body that is not JSON reads as an event of type `not-json`). */
  event: WebhookEvent;
  /** The signature checks out against `secret` as it was when the delivery arrived. */
  verified: boolean;
}

export interface WebhookReceiver {
  /** Where to register it: `http://127.0.0.1:<port>/hooks`. */
  url: string;
  deliveries: ReceivedWebhook[];
  /** The signing secret deliveries are verified against (set it once the registration returned it). */
  secret: string | undefined;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const deliveries: ReceivedWebhook[] = [];
  const receiver: WebhookReceiver = {
    url: '',
    deliveries,
    secret: undefined,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const verified = (() => {
        if (!receiver.secret) return false;
        try {
          new Webhook(receiver.secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      })();
      let event: WebhookEvent = { type: 'not-json', data: { id: '' } };
      try {
        event = JSON.parse(body) as WebhookEvent;
      } catch {
        // recorded as not-json: the test's assertions say what they expected
      }
      deliveries.push({ id: headers['webhook-id'] ?? '', headers, body, event, verified });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
