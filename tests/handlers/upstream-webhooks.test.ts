/**
 * `POST /v1/upstream/webhooks` (upstream-webhooks) at handler level: Azure OpenAI's signed events, as the
 * emulator signs them, finalize background jobs at once; the poller then finds only the stragglers. Forged,
 * stale or malformed deliveries change nothing; duplicates and events for unknown responses answer 2xx and change
 * nothing either; a job ends with the status upstream reports, whatever the event said.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Timer } from '@azure/functions';
import type { Response } from 'openai/resources/responses/responses';
import { newWebhookSecret, signedDelivery } from '../../tools/emulator/webhooks';
import {
  call,
  invocationContext,
  openAIError,
  runPollerTick,
  startHandlerEnv,
  until,
  upstreamIdOf,
  type HandlerEnv,
  type TestCaller,
} from './support';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { timerFunction } from './registry';
import '../../functions/index';
import '../../functions/responses-create';
import '../../functions/jobs-list';
import '../../functions/upstream-webhooks';
import '../../functions/webhook-delivery-timer';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

const SECRET = newWebhookSecret();
let env: HandlerEnv;
let alice: TestCaller;
let receiver: WebhookReceiver;

beforeAll(async () => {
  env = await startHandlerEnv({
    // The poller's first look is an hour away: only the webhook can end a job during this file.
    settings: {
      UPSTREAM_WEBHOOK_SECRET: SECRET,
      POLL_INITIAL_DELAY_MS: '3600000',
      POLL_MAX_DELAY_MS: '3600000',
      JOB_MAX_AGE_SECONDS: '86400',
    },
    emulator: { backgroundDurationMs: 150 },
  });
  alice = await env.newCaller('alice');
  receiver = await startWebhookReceiver();
  await env.registerWebhook(alice, receiver.url);
});

afterAll(async () => {
  await receiver?.close();
  await env?.close();
});

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

interface Job {
  id: string;
  status: string;
}

/** A background response through the gateway, once it has ended upstream. Returns the caller's and upstream's ids. */
async function endedBackground(metadata: Record<string, string> = {}) {
  const answer = await call('responses-create', {
    key: alice.key,
    json: { input: 'Work on it in the background.', background: true, metadata },
  });
  expect(answer.status, answer.text).toBe(200);
  const held = answer.json<Response>().id;
  const upstream = upstreamIdOf(alice, held);
  await until('the response to end upstream', async () => {
    const res = await fetch(`${env.jobs.emulator.url}/openai/v1/responses/${upstream}`, {
      headers: { 'api-key': 'emulator-key' },
    });
    const status = ((await res.json()) as Response).status;
    return status !== 'queued' && status !== 'in_progress';
  });
  return { held, upstream };
}

let n = 0;
function delivery(
  responseId: string,
  type = 'response.completed',
  opts: { webhookId?: string; secret?: string; at?: Date } = {},
) {
  const webhookId = opts.webhookId ?? `evt_test${++n}`;
  const event = { id: webhookId, type, created_at: Math.floor(Date.now() / 1000), data: { id: responseId } };
  return signedDelivery(event, opts.secret ?? SECRET, webhookId, opts.at);
}

const post = (d: { body: string; headers: Record<string, string> }) =>
  call('upstream-webhooks', { body: d.body, headers: d.headers, key: null });

async function jobOf(held: string): Promise<Job | undefined> {
  const answer = await call('jobs-list', { key: alice.key, query: 'limit=100' });
  return answer.json<{ data: Job[] }>().data.find((j) => j.id === held);
}

describe('POST /v1/upstream/webhooks (upstream-webhooks)', () => {
  it('finalizes the job at once on an authentic event, without waiting for the poller', async () => {
    const { held, upstream } = await endedBackground();
    expect((await jobOf(held))?.status).not.toBe('completed');
    const before = await env.jobs.upstreamCalls('GET /responses/{id}');
    const answer = await post(delivery(upstream));
    expect(answer.status, answer.text).toBe(200);
    expect((await jobOf(held))?.status).toBe('completed');
    // One upstream read: the event names the response, the final object comes from upstream.
    expect(await env.jobs.upstreamCalls('GET /responses/{id}')).toBe(before + 1);
    const deliver = timerFunction('webhook-delivery-timer').handler;
    await until('the caller webhook', async () => {
      await deliver(timer, invocationContext('webhook-delivery-timer'));
      return receiver.deliveries.some((d) => d.body.includes(held));
    });
  });

  it('treats a repeated webhook-id and later events for an ended job as no-ops, with 2xx', async () => {
    const { held, upstream } = await endedBackground();
    const first = delivery(upstream, 'response.completed', { webhookId: 'evt_dup1' });
    expect((await post(first)).status).toBe(200);
    const calls = await env.jobs.upstreamCalls('GET /responses/{id}');
    // The same delivery again, a redelivery of the same id with a new timestamp, and a second event.
    expect((await post(first)).status).toBe(200);
    expect((await post(delivery(upstream, 'response.completed', { webhookId: 'evt_dup1' }))).status).toBe(
      200,
    );
    expect((await post(delivery(upstream, 'response.completed'))).status).toBe(200);
    expect(await env.jobs.upstreamCalls('GET /responses/{id}')).toBe(calls);
    expect((await jobOf(held))?.status).toBe('completed');
  });

  it('ends the job with the status upstream reports, not the one the event names', async () => {
    const { held, upstream } = await endedBackground();
    expect((await post(delivery(upstream, 'response.cancelled'))).status).toBe(200);
    expect((await jobOf(held))?.status).toBe('completed');
    const failed = await endedBackground({ emulator_outcome: 'failed' });
    expect((await post(delivery(failed.upstream, 'response.completed'))).status).toBe(200);
    expect((await jobOf(failed.held))?.status).toBe('failed');
  });

  it('answers 2xx to events for responses it does not track, and writes nothing', async () => {
    const calls = await env.jobs.upstreamCalls('GET /responses/{id}');
    for (const type of ['response.completed', 'response.failed', 'batch.completed']) {
      expect((await post(delivery(`resp_unknown${n}`, type))).status).toBe(200);
    }
    expect(await env.jobs.upstreamCalls('GET /responses/{id}')).toBe(calls);
  });

  it('refuses forged, stale and malformed deliveries with 400 and changes nothing', async () => {
    const { held, upstream } = await endedBackground();
    const forged = await post(delivery(upstream, 'response.completed', { secret: newWebhookSecret() }));
    expect(forged.status).toBe(400);
    expect(openAIError(forged)).toMatchObject({ code: 'invalid_webhook_signature' });
    const stale = await post(
      delivery(upstream, 'response.completed', { at: new Date(Date.now() - 3600_000) }),
    );
    expect(stale.status).toBe(400);
    const good = delivery(upstream);
    const altered = await post({ body: good.body.replace('"event"', '"event" '), headers: good.headers });
    expect(altered.status).toBe(400);
    const { ['webhook-signature']: _dropped, ...unsigned } = good.headers;
    const missing = await post({ body: good.body, headers: unsigned });
    expect(missing.status).toBe(400);
    expect(openAIError(missing).param).toBe('webhook-signature');
    expect((await jobOf(held))?.status).not.toBe('completed');
    // The authentic one still works afterwards.
    expect((await post(good)).status).toBe(200);
    expect((await jobOf(held))?.status).toBe('completed');
  });

  it('leaves the poller only the stragglers: a job with no event is the one a tick polls', async () => {
    const straggler = await endedBackground();
    const stats = await runPollerTick({
      log: invocationContext('poll-background-timer'),
      now: Date.now() + 2 * 3600_000,
    });
    // Every webhook-finalized job left the due index when it was finalized.
    expect(stats).toMatchObject({ due: 1, polled: 1, finalized: 1, stale: 0 });
    expect((await jobOf(straggler.held))?.status).toBe('completed');
  });

  it('answers 404 when no upstream secret is configured', async () => {
    env.setSettings({ UPSTREAM_WEBHOOK_SECRET: '' });
    try {
      const answer = await post(delivery('resp_any'));
      expect(answer.status).toBe(404);
      expect(openAIError(answer).message).toMatch(/UPSTREAM_WEBHOOK_SECRET/);
    } finally {
      env.setSettings({ UPSTREAM_WEBHOOK_SECRET: SECRET });
    }
  });
});
