/**
 * The emulator's Azure OpenAI webhooks: one signed Standard Webhooks POST per background response that ends,
 * in the event shape the service sends, verified here with the official SDK's `webhooks.unwrap`; retried with
 * the same `webhook-id` until a 2xx; the test knobs (copies, `send` with a forged secret or an old timestamp).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../../tools/emulator/webhooks';
import { startHarness, type Harness } from './support';
import { setTimeout as sleep } from 'node:timers/promises';

interface Received {
  headers: Record<string, string>;
  body: string;
}

const secret = newWebhookSecret();
const verifier = new OpenAI({ apiKey: 'unused', baseURL: 'http://127.0.0.1:9' });
const received: Received[] = [];
/** Statuses the receiver answers, in order; 200 once they run out. */
let answers: number[] = [];
let receiver: Server;
let h: Harness;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(answers.shift() ?? 200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as AddressInfo).port;
  h = await startHarness({
    webhookUrl: `http://127.0.0.1:${port}/hooks`,
    webhookSecret: secret,
    webhookRetryBaseMs: 50,
    backgroundDurationMs: 100,
  });
});

afterAll(async () => {
  await h?.emulator.close();
  await new Promise((r) => receiver?.close(r));
});

beforeEach(() => {
  received.length = 0;
  answers = [];
});

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const forResponse = (id: string) =>
  received.filter((r) => (JSON.parse(r.body) as { data: { id: string } }).data.id === id);

describe('emulator webhooks', () => {
  it('POSTs one Standard Webhooks delivery per ended background response that the SDK verifies', async () => {
    const response = await h.client.responses.create({ model: 'gpt-4.1', input: 'hi', background: true });
    const [delivery] = await until('the delivery', () => {
      const mine = forResponse(response.id);
      return mine.length ? mine : undefined;
    });
    const event = await verifier.webhooks.unwrap(delivery!.body, delivery!.headers, secret);
    expect(event).toMatchObject({ object: 'event', type: 'response.completed', data: { id: response.id } });
    expect(event.id).toMatch(/^evt_/);
    expect(delivery!.headers['webhook-id']).toBe(event.id);
    expect(Math.abs(event.created_at - Date.now() / 1000)).toBeLessThan(30);
    expect(delivery!.headers['content-type']).toBe('application/json');
    // The event fires when the response has ended: a retrieve shows it terminal.
    expect((await h.client.responses.retrieve(response.id)).status).toBe('completed');
    await sleep(300);
    expect(forResponse(response.id)).toHaveLength(1);
  });

  it('names the end: failed, incomplete and cancelled responses', async () => {
    const failed = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_outcome: 'failed' },
    });
    const incomplete = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_outcome: 'incomplete' },
    });
    const cancelled = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_duration_ms: '5000' },
    });
    await h.client.responses.cancel(cancelled.id);
    const typeOf = async (id: string) => {
      const [d] = await until(`the delivery for ${id}`, () => {
        const mine = forResponse(id);
        return mine.length ? mine : undefined;
      });
      return (await verifier.webhooks.unwrap(d!.body, d!.headers, secret)).type;
    };
    expect(await typeOf(failed.id)).toBe('response.failed');
    expect(await typeOf(incomplete.id)).toBe('response.incomplete');
    expect(await typeOf(cancelled.id)).toBe('response.cancelled');
  });

  it('sends nothing for foreground responses or deleted ones', async () => {
    const foreground = await h.client.responses.create({ model: 'gpt-4.1', input: 'hi' });
    const deleted = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_duration_ms: '5000' },
    });
    await h.client.responses.delete(deleted.id);
    await sleep(400);
    expect(forResponse(foreground.id)).toHaveLength(0);
    expect(forResponse(deleted.id)).toHaveLength(0);
  });

  it('retries a delivery that got no 2xx, with the same webhook-id and a fresh signature', async () => {
    answers = [500, 503];
    const response = await h.client.responses.create({ model: 'gpt-4.1', input: 'hi', background: true });
    const attempts = await until('three attempts', () => {
      const mine = forResponse(response.id);
      return mine.length >= 3 ? mine : undefined;
    });
    expect(new Set(attempts.map((a) => a.headers['webhook-id'])).size).toBe(1);
    for (const a of attempts) await verifier.webhooks.unwrap(a.body, a.headers, secret);
    await sleep(400);
    expect(forResponse(response.id)).toHaveLength(3);
    const log = (await (await h.call('/_emulator/webhooks')).json()) as {
      deliveries: { responseId: string; attempt: number; status: number }[];
    };
    expect(log.deliveries.filter((d) => d.responseId === response.id).map((d) => d.status)).toEqual([
      500, 503, 200,
    ]);
  });

  it('sends any event on demand: copies, a forged signature, a stale timestamp', async () => {
    const send = async (body: Record<string, unknown>) => {
      const res = await h.call('/_emulator/webhooks/send', { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(200);
      return ((await res.json()) as { deliveries: { status: number; webhookId: string }[] }).deliveries;
    };
    const copies = await send({ response_id: 'resp_x1', type: 'response.cancelled', copies: 3 });
    expect(copies.map((c) => c.status)).toEqual([200, 200, 200]);
    expect(new Set(copies.map((c) => c.webhookId)).size).toBe(1);
    const mine = forResponse('resp_x1');
    expect(mine).toHaveLength(3);
    for (const d of mine) {
      expect((await verifier.webhooks.unwrap(d.body, d.headers, secret)).type).toBe('response.cancelled');
    }

    await send({ response_id: 'resp_x2', type: 'response.completed', secret: newWebhookSecret() });
    const [forged] = forResponse('resp_x2');
    await expect(verifier.webhooks.unwrap(forged!.body, forged!.headers, secret)).rejects.toThrow(
      /signature does not match/,
    );

    await send({ response_id: 'resp_x3', type: 'response.completed', timestamp_offset_s: -3600 });
    const [stale] = forResponse('resp_x3');
    await expect(verifier.webhooks.unwrap(stale!.body, stale!.headers, secret)).rejects.toThrow(/too old/);

    const bad = await h.call('/_emulator/webhooks/send', {
      method: 'POST',
      body: JSON.stringify({ type: 'response.completed' }),
    });
    expect(bad.status).toBe(400);
  });
});
