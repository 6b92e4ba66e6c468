/**
 * Azure OpenAI's webhooks as the fast path, through the running app: the emulator POSTs a signed event to
 * `/api/v1/upstream/webhooks` when each background response ends, and the app finalizes the job at once. The
 * poller's first look is ten minutes away, so only the webhook can end these jobs within the test; the caller
 * still gets exactly one signed webhook of its own per job.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { registerWebhook } from '../../shared/webhooks/registration';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import { EMULATOR_KEY, startStack, type Stack } from './stack';
import { setTimeout as sleep } from 'node:timers/promises';

let stack: Stack;
let caller: { name: string; key: string; client: OpenAI };
let receiver: WebhookReceiver;

beforeAll(async () => {
  stack = await startStack({
    upstreamWebhooks: true,
    settings: { POLL_INITIAL_DELAY_MS: '600000', POLL_MAX_DELAY_MS: '600000' },
    emulator: { backgroundDurationMs: 400 },
  });
  caller = await stack.newCaller('upwh');
  receiver = await startWebhookReceiver();
  receiver.secret = (await registerWebhook(caller.name, receiver.url)).secret;
});

afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; host log tail:\n${stack.hostLogs().slice(-4000)}`);
    }
    await sleep(100);
  }
}

async function jobs(): Promise<{ id: string; status: string }[]> {
  const res = await fetch(`${stack.baseURL}/jobs?limit=100`, {
    headers: { authorization: `Bearer ${caller.key}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: { id: string; status: string }[] }).data;
}

describe('upstream webhooks through the running app', () => {
  it('finalize background jobs long before the poller would, with one caller webhook each', async () => {
    const specs: Record<string, string>[] = [
      {},
      { emulator_duration_ms: '1200' },
      { emulator_outcome: 'failed' },
      { emulator_outcome: 'incomplete' },
      { emulator_duration_ms: '20000' },
    ];
    const created = await Promise.all(
      specs.map((metadata, i) =>
        caller.client.responses.create({ model: 'gpt-4.1', input: `job ${i}`, background: true, metadata }),
      ),
    );
    const ids = created.map((r) => r.id);
    // The long one is cancelled by the caller: the upstream's `response.cancelled` must not undo or repeat it.
    await caller.client.responses.cancel(ids[4]!);
    const final = await until('every job terminal', async () => {
      const mine = (await jobs()).filter((j) => ids.includes(j.id));
      const done =
        mine.length === ids.length && mine.every((j) => j.status !== 'queued' && j.status !== 'in_progress');
      return done ? mine : undefined;
    });
    const statusOf = (id: string) => final.find((j) => j.id === id)!.status;
    expect(ids.map(statusOf)).toEqual(['completed', 'completed', 'failed', 'incomplete', 'cancelled']);

    // What the emulator delivered: one event per background response, each accepted at the first attempt.
    const res = await fetch(`${stack.emulatorUrl}/_emulator/webhooks`, {
      headers: { 'api-key': EMULATOR_KEY },
    });
    const log = (await res.json()) as { deliveries: { type: string; status: number; attempt: number }[] };
    expect(log.deliveries.length).toBeGreaterThanOrEqual(4);
    expect(log.deliveries.every((d) => d.status === 200 && d.attempt === 1)).toBe(true);

    await until('one caller webhook per job', () =>
      Promise.resolve(
        ids.every((id) => receiver.deliveries.some((d) => d.event.data.id === id)) ? true : undefined,
      ),
    );
    await sleep(1500); // room for a duplicate to show up
    for (const id of ids) {
      const mine = receiver.deliveries.filter((d) => d.event.data.id === id);
      expect(mine, id).toHaveLength(1);
      expect(mine[0]!.verified).toBe(true);
      expect(mine[0]!.event.type).toBe(`response.${statusOf(id)}`);
    }
    // The app logged each finalization once and no poll reached upstream for these jobs.
    const finalized = [...stack.hostLogs().matchAll(/"event":"job\.upstream_webhook"/g)].length;
    expect(finalized).toBe(4);
    const stats = await stack.emulatorStats();
    // GET per job: one read by the webhook path for each of the four it finalized, one by the caller's cancel path
    // at most, and the usage ledger's read-back of the cancelled one (its final bill); never a poll loop.
    expect(stats.requests['GET /responses/{id}'] ?? 0).toBeLessThanOrEqual(ids.length + 1);
  });
});
