import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { resetConfigForTests } from '../../shared/platform/config';
import { ApiError } from '../../shared/platform/errors';
import { runPollerTick, trackBackgroundJob } from '../../shared/jobs';
import { openJobStore, readJob } from '../../shared/jobs/store';
import {
  enqueueWebhookEvent,
  getDelivery,
  registerWebhook,
  resolveWebhookTarget,
  runWebhookTick,
  buildEvent,
  eventId,
  type WebhookEvent,
} from '../../shared/webhooks';
import { clearWebhookCacheForTests } from '../../shared/webhooks/registration';
import { main as keysTool } from '../../tools/keys';
import { startJobsEnv, uniqueSuffix, until, type JobsEnv } from './support/jobs-env';

interface Received {
  headers: Record<string, string>;
  body: string;
}

/** A webhook receiver on loopback whose answers the test scripts (default 200). */
class Receiver {
  readonly received: Received[] = [];
  answers: number[] = [];
  private server!: Server;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.received.push({
          headers: Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)])),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        res.statusCode = this.answers.shift() ?? 200;
        res.end();
      });
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

let env: JobsEnv;
let receiver: Receiver;
let secret: string;

beforeAll(async () => {
  env = await startJobsEnv();
  receiver = new Receiver();
  await receiver.start();
  secret = (await registerWebhook(env.caller.name, receiver.url, { allowRequestUrls: true })).secret;
});

afterAll(async () => {
  await receiver.close();
  await env.close();
});

beforeEach(() => {
  receiver.received.length = 0;
  receiver.answers = [];
});

function verify(r: Received): unknown {
  return new Webhook(secret).verify(r.body, r.headers);
}

describe('completion webhooks', () => {
  it("a finished job's event arrives signed, and after a 500 the retry carries the same webhook-id", async () => {
    const response = await env.createBackground();
    await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
    await until('the job to be finalized', async () => {
      await runPollerTick({ log: env.log });
      return (await readJob(await openJobStore(), response.id))?.phase === 'finalized';
    });
    receiver.answers = [500];

    const first = await runWebhookTick({ log: env.log });
    expect(first).toMatchObject({ attempted: 1, retried: 1, delivered: 0 });
    // Not due again before its retry delay.
    expect((await runWebhookTick({ log: env.log })).attempted).toBe(0);
    const second = await runWebhookTick({ log: env.log, now: Date.now() + 6_000 });
    expect(second).toMatchObject({ attempted: 1, delivered: 1 });

    expect(receiver.received).toHaveLength(2);
    const [a, b] = receiver.received as [Received, Received];
    expect(a.headers['webhook-id']).toBe(b.headers['webhook-id']);
    expect(a.body).toBe(b.body);
    const event = verify(b) as WebhookEvent & { data: { usage: { total_tokens: number } } };
    verify(a);
    expect(event).toMatchObject({
      id: eventId(response.id, 'response.completed'),
      object: 'event',
      type: 'response.completed',
      data: {
        id: response.id,
        status: 'completed',
        kind: 'response',
        deployment: 'gpt-4.1',
        url: `https://gateway.example.com/api/v1/responses/${response.id}`,
      },
    });
    expect(event.created_at).toBeGreaterThan(0);
    expect(event.data.usage.total_tokens).toBeGreaterThan(0);
    // What happened and where to fetch it; never the output itself.
    expect(b.body).not.toContain('"output":');
    expect(b.body).not.toContain('output_text');
    expect(a.headers['webhook-id']).toBe(event.id);
    const delivery = await getDelivery(event.id);
    expect(delivery).toMatchObject({ state: 'delivered', attempts: 2, lastStatus: 200 });
  });

  it('a tampered body or another secret fails verification', async () => {
    const event = buildEvent('response.failed', { id: 'resp_tamper', status: 'failed' });
    await enqueueWebhookEvent({ callerId: env.caller.id, event });
    await runWebhookTick({ log: env.log });
    const got = receiver.received[0]!;
    expect(() => verify(got)).not.toThrow();
    expect(() => new Webhook(secret).verify(got.body.replace('failed', 'completed'), got.headers)).toThrow();
    const other = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
    expect(() => new Webhook(other).verify(got.body, got.headers)).toThrow();
  });

  it('keeps retrying with the same webhook-id and gives up as failed after the retry window', async () => {
    receiver.answers = Array.from({ length: 20 }, () => 503);
    const event = buildEvent('response.incomplete', { id: 'resp_giveup', status: 'incomplete' });
    await enqueueWebhookEvent({ callerId: env.caller.id, event });
    const start = Date.now();

    await runWebhookTick({ log: env.log });
    await runWebhookTick({ log: env.log, now: start + 10_000 });
    await runWebhookTick({ log: env.log, now: start + 10 * 60_000 });
    let delivery = await getDelivery(event.id);
    expect(delivery).toMatchObject({ state: 'pending', attempts: 3, lastStatus: 503 });

    const last = await runWebhookTick({ log: env.log, now: start + 25 * 3_600_000 });
    expect(last.failed).toBe(1);
    delivery = await getDelivery(event.id);
    expect(delivery).toMatchObject({ state: 'failed', attempts: 4 });
    expect(receiver.received).toHaveLength(4);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([event.id]));

    // Failed for good: later ticks leave it alone.
    expect((await runWebhookTick({ log: env.log, now: start + 30 * 3_600_000 })).attempted).toBe(0);
  });

  it('queueing the same event twice delivers it once', async () => {
    const event = buildEvent('response.completed', { id: 'resp_twice', status: 'completed' });
    await enqueueWebhookEvent({ callerId: env.caller.id, event });
    await enqueueWebhookEvent({ callerId: env.caller.id, event });
    await runWebhookTick({ log: env.log });
    await runWebhookTick({ log: env.log, now: Date.now() + 60_000 });
    expect(receiver.received).toHaveLength(1);
  });

  it('a per-request X-Webhook-Url is used when the registration allows it, and private targets are refused', async () => {
    expect(await resolveWebhookTarget(env.caller)).toBe(receiver.url);
    const other = receiver.url.replace('/hooks', '/other');
    expect(await resolveWebhookTarget(env.caller, other)).toBe(other);

    const response = await env.createBackground();
    await trackBackgroundJob({
      caller: env.caller,
      response,
      kind: 'response',
      deployment: 'gpt-4.1',
      webhookUrl: other,
    });
    await until('the job to be finalized', async () => {
      await runPollerTick({ log: env.log });
      return (await readJob(await openJobStore(), response.id))?.phase === 'finalized';
    });
    await runWebhookTick({ log: env.log });
    expect(receiver.received.map((r) => JSON.parse(r.body).data.id)).toContain(response.id);

    await expect(resolveWebhookTarget(env.caller, 'http://10.0.0.8/hook')).rejects.toMatchObject({
      status: 400,
    });
    await expect(resolveWebhookTarget(env.caller, 'ftp://example.com/x')).rejects.toBeInstanceOf(ApiError);

    // In Azure mode even loopback is refused.
    process.env.GATEWAY_MODE = 'azure';
    resetConfigForTests();
    try {
      await expect(resolveWebhookTarget(env.caller, other)).rejects.toMatchObject({
        status: 400,
        code: 'invalid_webhook_url',
      });
    } finally {
      process.env.GATEWAY_MODE = 'local';
      resetConfigForTests();
    }
  });

  it('per-request URLs need a registration that allows them', async () => {
    await registerWebhook(env.caller.name, receiver.url);
    clearWebhookCacheForTests();
    try {
      await expect(resolveWebhookTarget(env.caller, receiver.url)).rejects.toMatchObject({
        status: 400,
        code: 'webhook_url_not_allowed',
      });
      const entra = { id: 'entra:0000-1111', source: 'entra' as const, name: 'someone' };
      expect(await resolveWebhookTarget(entra)).toBeUndefined();
      await expect(resolveWebhookTarget(entra, receiver.url)).rejects.toMatchObject({
        code: 'webhook_not_registered',
      });
    } finally {
      secret = (await registerWebhook(env.caller.name, receiver.url, { allowRequestUrls: true })).secret;
    }
  });

  it('`npm run keys -- webhook` registers a URL and prints the signing secret last; refused URLs fail', async () => {
    const name = `cli-${uniqueSuffix()}`;
    const lines: string[] = [];
    const spy = vi
      .spyOn(console, 'log')
      .mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    try {
      expect(await keysTool(['create', name])).toBe(0);
      expect(await keysTool(['webhook', name, receiver.url, '--allow-request-urls'])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const printed = lines.at(-1)!;
    expect(printed).toMatch(/^whsec_/);
    const caller = { id: `key:${name}`, source: 'key' as const, name };
    clearWebhookCacheForTests();
    expect(await resolveWebhookTarget(caller, receiver.url.replace('/hooks', '/x'))).toContain('/x');

    const event = buildEvent('response.completed', { id: `resp_cli_${uniqueSuffix()}`, status: 'completed' });
    await enqueueWebhookEvent({ callerId: caller.id, event });
    await runWebhookTick({ log: env.log });
    const got = receiver.received.find((r) => r.headers['webhook-id'] === event.id)!;
    expect(() => new Webhook(printed).verify(got.body, got.headers)).not.toThrow();

    await expect(keysTool(['webhook', name, 'https://10.1.1.1/hook'])).rejects.toThrow(/private/);
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      expect(await keysTool(['webhook', name])).toBe(2);
    } finally {
      errors.mockRestore();
    }
  });

  it('registering a webhook for an unknown caller says to create a key first', async () => {
    await expect(registerWebhook('nobody-here-xyz', receiver.url)).rejects.toThrow(/Create a key first/);
  });
});
