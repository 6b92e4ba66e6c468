/**
 * Background responses through the running app: tracked jobs, the timer poller, exactly one signed webhook per
 * job, answers from the job record, cancel races, generated images, and idempotent creates.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { registerWebhook } from '../../shared/webhooks/registration';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { startStack, type Stack } from './stack';
import { setTimeout as sleep } from 'node:timers/promises';

let stack: Stack;
let caller: { name: string; key: string; client: OpenAI };
let receiver: WebhookReceiver;

beforeAll(async () => {
  stack = await startStack({ emulator: { backgroundDurationMs: 500 } });
  caller = await stack.newCaller('bg');
  receiver = await startWebhookReceiver();
  receiver.secret = (await registerWebhook(caller.name, receiver.url)).secret;
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

// Faults a test injected never outlive it, even when it fails before they are used up.
afterEach(async () => {
  await stack?.clearFaults();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 25_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; host log tail:\n${stack.hostLogs().slice(-4000)}`);
    }
    await sleep(200);
  }
}

const TERMINAL = ['completed', 'failed', 'cancelled', 'incomplete', 'expired'];

async function jobs(): Promise<{ data: { id: string; status: string; kind: string; usage?: unknown }[] }> {
  const res = await fetch(`${stack.baseURL}/jobs?limit=100`, {
    headers: { authorization: `Bearer ${caller.key}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as never;
}

describe('background jobs', () => {
  it('polls responses of several lengths and outcomes to their end and sends one signed webhook each', async () => {
    const specs: Record<string, string>[] = [
      { emulator_duration_ms: '200' },
      { emulator_duration_ms: '900' },
      { emulator_duration_ms: '2500' },
      { emulator_duration_ms: '400', emulator_outcome: 'failed' },
      { emulator_duration_ms: '400', emulator_outcome: 'incomplete' },
    ];
    const created = await Promise.all(
      specs.map((metadata, i) =>
        caller.client.responses.create({ model: 'gpt-4.1', input: `job ${i}`, background: true, metadata }),
      ),
    );
    const ids = created.map((r) => r.id);
    const final = await until('every job terminal', async () => {
      const list = await jobs();
      const mine = list.data.filter((j) => ids.includes(j.id));
      return mine.length === ids.length && mine.every((j) => TERMINAL.includes(j.status)) ? mine : undefined;
    });
    const statusOf = (id: string | undefined) => final.find((j) => j.id === id)!.status;
    expect(ids.slice(0, 3).map(statusOf)).toEqual(['completed', 'completed', 'completed']);
    expect(statusOf(ids[3])).toBe('failed');
    expect(statusOf(ids[4])).toBe('incomplete');

    await until('one webhook per job', () =>
      Promise.resolve(
        ids.every((id) => receiver.deliveries.some((d) => d.event.data.id === id)) ? true : undefined,
      ),
    );
    await sleep(1500); // room for any duplicate to show up
    for (const id of ids) {
      const mine = receiver.deliveries.filter((d) => d.event.data.id === id);
      expect(new Set(mine.map((d) => d.id)).size).toBe(1); // one logical event (retries would share the id)
      expect(mine.every((d) => d.verified)).toBe(true);
      expect(mine[0]!.event.type).toBe(`response.${statusOf(id)}`);
      expect(JSON.stringify(mine[0]!.event)).not.toContain('job 0'); // no output or input text
    }
  });

  it('answers a finished job’s retrieve from its record once finalized', async () => {
    const response = await caller.client.responses.create({
      model: 'gpt-4.1',
      input: 'quick',
      background: true,
      metadata: { emulator_duration_ms: '100' },
    });
    await until('job finalized', async () =>
      (await jobs()).data.find((j) => j.id === response.id && j.status === 'completed') ? true : undefined,
    );
    const retrieved = await caller.client.responses.retrieve(response.id);
    expect(retrieved.status).toBe('completed');
    expect(retrieved.id).toBe(response.id);
    expect(retrieved.output_text).toContain('quick');
  });

  it('keeps a cancelled job cancelled even when upstream later reports completed', async () => {
    await stack.fault({ kind: 'cancel_then_completed', count: 1 });
    const response = await caller.client.responses.create({
      model: 'gpt-4.1',
      input: 'cancel me',
      background: true,
      metadata: { emulator_duration_ms: '1500' },
    });
    const cancelled = await caller.client.responses.cancel(response.id);
    expect(cancelled.status).toBe('cancelled');
    await sleep(3000); // several poller ticks past the upstream "completion"
    const job = (await jobs()).data.find((j) => j.id === response.id)!;
    expect(job.status).toBe('cancelled');
    await until('cancel webhook', () =>
      Promise.resolve(receiver.deliveries.some((d) => d.event.data.id === response.id) ? true : undefined),
    );
    const events = receiver.deliveries.filter((d) => d.event.data.id === response.id);
    expect(events.every((d) => d.event.type === 'response.cancelled')).toBe(true);
  });

  it('stores the images of a background image generation', async () => {
    const response = await caller.client.responses.create({
      model: 'gpt-4.1',
      input: 'Generate an image of a lighthouse',
      tools: [{ type: 'image_generation' }],
      background: true,
    });
    const done = await until('image job finalized', async () => {
      const job = (await jobs()).data.find((j) => j.id === response.id);
      return job && TERMINAL.includes(job.status) ? job : undefined;
    });
    expect(done.status).toBe('completed');
    const full = await caller.client.responses.retrieve(response.id);
    const call = full.output.find((i) => i.type === 'image_generation_call')!;
    const res = await fetch(`${stack.baseURL}/responses/${response.id}/images/${call.id}`, {
      headers: { authorization: `Bearer ${caller.key}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
  });

  it('lists jobs filtered by status and kind, newest first', async () => {
    const res = await fetch(`${stack.baseURL}/jobs?status=failed&kind=response`, {
      headers: { authorization: `Bearer ${caller.key}` },
    });
    const list = (await res.json()) as { object: string; data: { status: string; kind: string }[] };
    expect(list.object).toBe('list');
    expect(list.data.length).toBeGreaterThan(0);
    expect(list.data.every((j) => j.status === 'failed' && j.kind === 'response')).toBe(true);
    const other = await stack.newCaller('nobody');
    const theirs = await fetch(`${stack.baseURL}/jobs`, {
      headers: { authorization: `Bearer ${other.key}` },
    });
    expect(((await theirs.json()) as { data: unknown[] }).data).toEqual([]);
  });
});

describe('idempotent creates', () => {
  const create = (key: string, body: object) =>
    fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${caller.key}`,
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });

  it('replays the first result for the same key and body without a second upstream create', async () => {
    const key = `k-${Date.now()}`;
    const body = { model: 'gpt-4.1', input: 'only once', background: true };
    const first = (await (await create(key, body)).json()) as { id: string };
    const before = await stack.emulatorStats();
    const second = await create(key, body);
    const after = await stack.emulatorStats();
    expect(second.status).toBe(200);
    expect(((await second.json()) as { id: string }).id).toBe(first.id);
    expect(after.requests['POST /responses']).toBe(before.requests['POST /responses']);
  });

  it('refuses the same key with a different body (422)', async () => {
    const key = `k2-${Date.now()}`;
    expect((await create(key, { model: 'gpt-4.1', input: 'a' })).status).toBe(200);
    const res = await create(key, { model: 'gpt-4.1', input: 'b' });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('idempotency_key_reused');
  });

  it('answers a repeat while the first is still running with 409', async () => {
    const key = `k3-${Date.now()}`;
    await stack.fault({ kind: 'latency', latencyMs: 1500, count: 1, route: 'POST /responses' });
    const body = { model: 'gpt-4.1', input: 'slow' };
    const slow = create(key, body);
    await sleep(400);
    const repeat = await create(key, body);
    expect(repeat.status).toBe(409);
    expect((await slow).status).toBe(200);
  });

  it('still replays after the app restarts', async () => {
    const key = `k4-${Date.now()}`;
    const body = { model: 'gpt-4.1', input: 'survives restarts' };
    const first = (await (await create(key, body)).json()) as { id: string };
    await stack.restartHost();
    const again = (await (await create(key, body)).json()) as { id: string };
    expect(again.id).toBe(first.id);
  });
});
