/**
 * `GET /v1/jobs` at handler level, and the two timers that carry a background response to its end and its
 * caller's webhook (`poll-background-timer`, `webhook-delivery-timer`), invoked directly as the host would.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Timer } from '@azure/functions';
import type { Response } from 'openai/resources/responses/responses';
import { Webhook } from 'standardwebhooks';
import {
  call,
  invocationContext,
  openAIError,
  startHandlerEnv,
  until,
  type HandlerEnv,
  type TestCaller,
  runPollQueue,
} from './support';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { queueFunction, timerFunction } from './registry';
import '../../functions/index';
import '../../functions/responses-create';
import '../../functions/jobs-list';
import '../../functions/poll-background-timer';
import '../../functions/poll-background-queue';
import '../../functions/webhook-delivery-timer';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

interface JobList {
  object: string;
  data: { id: string; object: string; kind: string; status: string }[];
  has_more: boolean;
}

let env: HandlerEnv;
let alice: TestCaller;
let bob: TestCaller;
let receiver: WebhookReceiver;
let secret: string;

beforeAll(async () => {
  env = await startHandlerEnv();
  alice = await env.newCaller('alice');
  bob = await env.newCaller('bob');
  receiver = await startWebhookReceiver();
  secret = await env.registerWebhook(alice, receiver.url);
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

async function background(caller: TestCaller): Promise<Response> {
  const answer = await call('responses-create', {
    key: caller.key,
    json: { input: 'Work on it in the background.', background: true },
  });
  expect(answer.status, answer.text).toBe(200);
  return answer.json<Response>();
}

const jobs = async (caller: TestCaller, query?: string) => call('jobs-list', { key: caller.key, query });

describe('GET /v1/jobs (jobs-list)', () => {
  it("lists the caller's background job, not cached, and nothing of it to another caller", async () => {
    const response = await background(alice);
    const answer = await jobs(alice);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    const list = answer.json<JobList>();
    expect(list.object).toBe('list');
    expect(list.data.find((j) => j.id === response.id)).toMatchObject({
      object: 'background_job',
      kind: 'response',
    });
    expect((await jobs(bob)).json<JobList>().data).toEqual([]);
    const foreignCursor = await jobs(bob, `after=${response.id}`);
    expect(foreignCursor.status).toBe(400);
    expect(openAIError(foreignCursor).param).toBe('after');
  });

  it('answers 400 naming a bad filter and 401 without a key, both OpenAI-shaped', async () => {
    const status = await jobs(alice, 'status=done');
    expect(status.status).toBe(400);
    expect(openAIError(status)).toMatchObject({ type: 'invalid_request_error', param: 'status' });
    const anonymous = await call('jobs-list', { key: null });
    expect(anonymous.status).toBe(401);
    expect(openAIError(anonymous).type).toBe('authentication_error');
  });
});

describe('poll-background-queue, invoked directly', () => {
  it('drops a malformed message with an error in the log, without throwing (a retry would not mend it)', async () => {
    const logs: string[] = [];
    await queueFunction('poll-background-queue').handler(
      { kind: 'poll' },
      invocationContext('poll-background-queue', logs, { dequeueCount: 1 }),
    );
    expect(logs.join('\n')).toContain('poller.bad_message');
  });
});

describe('poll-background-timer, poll-background-queue and webhook-delivery-timer, invoked directly', () => {
  it('finish a background response: the job lists as completed and the caller receives a signed webhook', async () => {
    const response = await background(alice);
    const poll = timerFunction('poll-background-timer').handler;
    await until('the job to complete', async () => {
      await poll(timer, invocationContext('poll-background-timer'));
      await runPollQueue();
      const list = (await jobs(alice, 'status=completed')).json<JobList>();
      return list.data.some((j) => j.id === response.id);
    });

    const deliver = timerFunction('webhook-delivery-timer').handler;
    await until('the webhook to arrive', async () => {
      await deliver(timer, invocationContext('webhook-delivery-timer'));
      return receiver.deliveries.some((r) => r.body.includes(response.id));
    });
    const delivery = receiver.deliveries.find((r) => r.body.includes(response.id))!;
    const event = new Webhook(secret).verify(delivery.body, delivery.headers) as {
      type: string;
      data: { id: string };
    };
    expect(event).toMatchObject({ type: 'response.completed', data: { id: response.id } });
  });
});
