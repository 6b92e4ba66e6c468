import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collect, parseSse, sleep, startHarness, until, expectSchemaClean, type Harness } from './support';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.clearFaults();
});

afterEach(async () => {
  await expectSchemaClean(h);
});

afterAll(async () => {
  await h.emulator.close();
});

interface Stats {
  requests: Record<string, number>;
  responses: number;
  running: number;
  files: number;
  fileBytes: number;
  faults: number;
}

async function stats(): Promise<Stats> {
  return (await (await h.call('/_emulator/stats')).json()) as Stats;
}

describe('fault injection', () => {
  it('answers 429 with retry-after-ms and retry-after, which the SDK surfaces without retries', async () => {
    await h.addFault({ kind: '429', count: 1, retryAfterMs: 1500 });
    const noRetry = h.clientWith({ maxRetries: 0 });
    const error = await noRetry.responses.create({ model: 'gpt-4.1', input: 'hi' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const headers = (error as InstanceType<typeof OpenAI.RateLimitError>).headers;
    expect(headers.get('retry-after-ms')).toBe('1500');
    expect(headers.get('retry-after')).toBe('2');
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).error).toMatchObject({ code: '429' });
    // count: 1 — the next request goes through.
    expect((await noRetry.responses.create({ model: 'gpt-4.1', input: 'hi' })).status).toBe('completed');
  });

  it('lets the SDK retry through a burst of 429s using the retry hint', async () => {
    await h.addFault({ kind: '429', count: 2, retryAfterMs: 50 });
    await h.call('/_emulator/stats/reset', { method: 'POST' });
    const response = await h
      .clientWith({ maxRetries: 3 })
      .responses.create({ model: 'gpt-4.1', input: 'retry me' });
    expect(response.status).toBe('completed');
    expect((await stats()).requests['POST /responses']).toBe(3);
  });

  it('answers 500 and 503 as server errors', async () => {
    const client = h.clientWith({ maxRetries: 0 });
    await h.addFault({ kind: '500', count: 1 });
    const e500 = await client.responses.create({ model: 'gpt-4.1', input: 'x' }).catch((e: unknown) => e);
    expect(e500).toBeInstanceOf(OpenAI.InternalServerError);
    expect((e500 as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(500);

    await h.addFault({ kind: '503', count: 1 });
    const e503 = await client.responses.create({ model: 'gpt-4.1', input: 'x' }).catch((e: unknown) => e);
    expect((e503 as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
  });

  it('only hits the route and method it is filtered to', async () => {
    await h.addFault({ kind: '500', route: '/responses/{id}', method: 'GET' });
    const client = h.clientWith({ maxRetries: 0 });
    const created = await client.responses.create({ model: 'gpt-4.1', input: 'x' });
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await expect(client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.InternalServerError);
    await h.clearFaults();
    expect((await client.responses.retrieve(created.id)).id).toBe(created.id);
  });

  it('adds latency to matching requests', async () => {
    await h.addFault({ kind: 'latency', latencyMs: 300, count: 1 });
    const started = Date.now();
    await h.client.responses.create({ model: 'gpt-4.1', input: 'slow' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const again = Date.now();
    await h.client.responses.create({ model: 'gpt-4.1', input: 'fast' });
    expect(Date.now() - again).toBeLessThan(250);
  });

  it('cuts a background stream mid-way without a terminal event, and the rest can be resumed', async () => {
    await h.addFault({ kind: 'stream_cut', afterEvents: 4, count: 1 });
    const res = await h.call('/openai/v1/responses', {
      method: 'POST',
      body: JSON.stringify({ model: 'gpt-4.1', input: 'cut me off', stream: true, background: true }),
    });
    const events = parseSse(await res.text()).map((f) => JSON.parse(f.data) as ResponseStreamEvent);
    expect(events).toHaveLength(4);
    expect(events.some((e) => e.type === 'response.completed')).toBe(false);

    const id = events[0]?.type === 'response.created' ? events[0].response.id : '';
    const rest = await collect(await h.client.responses.retrieve(id, { stream: true, starting_after: 3 }));
    expect(rest[0]?.sequence_number).toBe(4);
    expect(rest.at(-1)?.type).toBe('response.completed');
  });

  it('can drop the socket abruptly, which the SDK reports as an error', async () => {
    await h.addFault({ kind: 'stream_cut', afterEvents: 2, abort: true, count: 1 });
    const stream = await h
      .clientWith({ maxRetries: 0 })
      .responses.create({ model: 'gpt-4.1', input: 'drop', stream: true });
    await expect(collect(stream)).rejects.toThrow();
  });

  it('keeps a background response queued while stuck_queued is active, until cancelled', async () => {
    await h.addFault({ kind: 'stuck_queued', count: 1 });
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'never starts',
      background: true,
      metadata: { emulator_duration_ms: '50' },
    });
    await sleep(250);
    expect((await h.client.responses.retrieve(created.id)).status).toBe('queued');
    expect((await h.client.responses.cancel(created.id)).status).toBe('cancelled');
  });

  it('reports completed after acknowledging a cancel when cancel_then_completed is active', async () => {
    await h.addFault({ kind: 'cancel_then_completed', count: 1 });
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'race',
      background: true,
      // Long enough that the cancel lands while it runs, even on a loaded machine.
      metadata: { emulator_duration_ms: '1500' },
    });
    expect((await h.client.responses.cancel(created.id)).status).toBe('cancelled');
    const later = await until(
      () => h.client.responses.retrieve(created.id),
      (r) => r.status === 'completed',
    );
    expect(later.status).toBe('completed');
    expect(later.output_text).toContain('race');
  });

  it('rejects an unknown fault kind and requires the api key on control routes', async () => {
    const bad = await h.call('/_emulator/faults', {
      method: 'POST',
      body: JSON.stringify({ kind: 'meteor' }),
    });
    expect(bad.status).toBe(400);
    const anonymous = await fetch(`${h.emulator.url}/_emulator/stats`);
    expect(anonymous.status).toBe(401);
  });
});

describe('statistics', () => {
  it('counts requests per route and reports live responses and files', async () => {
    await h.call('/_emulator/stats/reset', { method: 'POST' });
    const created = await h.client.responses.create({ model: 'gpt-4.1', input: 'count me' });
    await h.client.responses.retrieve(created.id);
    await h.client.responses.retrieve(created.id);
    await h.client.responses.inputItems.list(created.id);
    const file = await h.client.files.create({ file: new File(['x'], 'x.txt'), purpose: 'assistants' });

    const s = await stats();
    expect(s.requests).toEqual({
      'POST /responses': 1,
      'GET /responses/{id}': 2,
      'GET /responses/{id}/input_items': 1,
      'POST /files': 1,
    });
    expect(s.responses).toBeGreaterThan(0);
    expect(s.files).toBeGreaterThanOrEqual(1);

    await h.client.files.delete(file.id);
    const reset = (await (await h.call('/_emulator/stats/reset', { method: 'POST' })).json()) as Stats;
    expect(reset.requests).toEqual({});
    expect(reset.files).toBe(s.files - 1);
  });
});

describe('options', () => {
  it('adds latencyMs to every API request but not to control routes', async () => {
    const slow = await startHarness({ latencyMs: 200 });
    try {
      let started = Date.now();
      await slow.client.models.list();
      expect(Date.now() - started).toBeGreaterThanOrEqual(190);
      started = Date.now();
      await slow.call('/_emulator/stats');
      expect(Date.now() - started).toBeLessThan(150);
    } finally {
      await slow.emulator.close();
    }
  });

  it('bounds memory by evicting the oldest finished responses', async () => {
    const small = await startHarness({ maxResponses: 2 });
    try {
      const [a, b, c] = [
        await small.client.responses.create({ model: 'gpt-4.1', input: 'a' }),
        await small.client.responses.create({ model: 'gpt-4.1', input: 'b' }),
        await small.client.responses.create({ model: 'gpt-4.1', input: 'c' }),
      ];
      await expect(small.client.responses.retrieve(a.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
      expect((await small.client.responses.retrieve(b.id)).id).toBe(b.id);
      expect((await small.client.responses.retrieve(c.id)).id).toBe(c.id);
    } finally {
      await small.emulator.close();
    }
  });
});
