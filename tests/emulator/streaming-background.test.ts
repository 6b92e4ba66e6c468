import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collect, parseSse, sleep, startHarness, until, expectSchemaClean, type Harness } from './support';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await expectSchemaClean(h);
});

afterAll(async () => {
  await h.emulator.close();
});

const TEXT_ORDER = [
  'response.created',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.done',
  'response.content_part.done',
  'response.output_item.done',
  'response.completed',
];

/** Event types with consecutive repeats folded, to compare against the documented order. */
function shape(events: Array<{ type: string }>): string[] {
  return events.map((e) => e.type).filter((t, i, all) => t !== all[i - 1]);
}

describe('streaming', () => {
  it('sends SSE frames in the documented order, numbered from 0 without gaps, and no [DONE]', async () => {
    const res = await h.call('/openai/v1/responses', {
      method: 'POST',
      body: JSON.stringify({
        model: 'gpt-4.1',
        input: 'Summarize Azure OpenAI Responses API in one sentence.',
        stream: true,
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const body = await res.text();
    expect(body).not.toContain('[DONE]');
    const frames = parseSse(body);
    const events = frames.map((f) => JSON.parse(f.data) as ResponseStreamEvent);
    frames.forEach((f, i) => expect(f.event).toBe(events[i]?.type));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(shape(events)).toEqual(TEXT_ORDER);
    expect(events.filter((e) => e.type === 'response.output_text.delta').length).toBeGreaterThan(3);
    const deltas = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    const last = events.at(-1);
    const message =
      last?.type === 'response.completed'
        ? last.response.output.find((i) => i.type === 'message')
        : undefined;
    const finalText =
      message?.type === 'message' && message.content[0]?.type === 'output_text'
        ? message.content[0].text
        : '';
    expect(finalText).toBe(deltas);
    expect(deltas).toContain('You said: "Summarize Azure OpenAI Responses API in one sentence."');
  });

  it('spaces events as they are produced', async () => {
    const slow = await startHarness({ streamEventDelayMs: 40 });
    try {
      const started = Date.now();
      const stream = await slow.client.responses.create({
        model: 'gpt-4.1',
        input: 'one two three',
        stream: true,
      });
      const stamps: number[] = [];
      for await (const _event of stream) stamps.push(Date.now() - started);
      const total = stamps.at(-1)!;
      expect(total).toBeGreaterThanOrEqual(40 * (stamps.length - 1) - 5);
      // Relayed as produced, not buffered until the end.
      expect(stamps[0]!).toBeLessThan(total / 2);
    } finally {
      await slow.emulator.close();
    }
  });

  it("satisfies the SDK's stream helper, which rebuilds the response from the events", async () => {
    const runner = h.client.responses.stream({
      model: 'o4-mini',
      input: 'Stream helper check.',
      reasoning: { summary: 'auto' },
    });
    const deltas: string[] = [];
    runner.on('response.output_text.delta', (e) => deltas.push(e.delta));
    const final = await runner.finalResponse();
    expect(final.status).toBe('completed');
    expect(final.output_text).toBe(deltas.join(''));
    expect(final.output_text).toContain('Stream helper check.');
  });

  it('streams tool calls with their own events', async () => {
    const stream = await h.client.responses.create({
      model: 'o4-mini',
      stream: true,
      reasoning: { summary: 'auto' },
      tools: [
        {
          type: 'function',
          name: 'get_weather',
          strict: false,
          parameters: { type: 'object', properties: { location: { type: 'string' } } },
        },
      ],
      input: 'Weather in Paris?',
    });
    const types = shape(await collect(stream));
    expect(types).toEqual(
      expect.arrayContaining([
        'response.reasoning_summary_text.delta',
        'response.function_call_arguments.delta',
        'response.function_call_arguments.done',
      ]),
    );
    expect(types.at(-1)).toBe('response.completed');
  });

  it('replays the events after starting_after when a background stream is resumed', async () => {
    const original = await collect(
      await h.client.responses.create({
        model: 'gpt-4.1',
        input: 'Resume me later.',
        stream: true,
        background: true,
      }),
    );
    const id = original[0]?.type === 'response.created' ? original[0].response.id : '';
    const resumed = await collect(await h.client.responses.retrieve(id, { stream: true, starting_after: 4 }));
    expect(resumed.map((e) => e.sequence_number)).toEqual(original.slice(5).map((e) => e.sequence_number));
    expect(resumed).toEqual(original.slice(5));
  });

  it('refuses to stream a response that was not created with stream: true', async () => {
    const plain = await h.client.responses.create({ model: 'gpt-4.1', input: 'no stream' });
    const error = await h.client.responses.retrieve(plain.id, { stream: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('background mode', () => {
  it('moves from queued through in_progress to completed', async () => {
    const created = await h.client.responses.create({
      model: 'o4-mini',
      input: 'Write me a very long story.',
      background: true,
    });
    expect(created.status).toBe('queued');
    expect(created.background).toBe(true);
    const seen = new Set<string>([created.status ?? '']);
    const final = await until(
      () => h.client.responses.retrieve(created.id),
      (r) => {
        seen.add(r.status ?? '');
        return r.status === 'completed';
      },
    );
    expect(seen).toEqual(new Set(['queued', 'in_progress', 'completed']));
    expect(final.output_text).toContain('Write me a very long story.');
  });

  it('requires store: true', async () => {
    const error = await h.client.responses
      .create({ model: 'gpt-4.1', input: 'x', background: true, store: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('store=true');
  });

  it('cancels a running response idempotently, answering the final object each time', async () => {
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Long job',
      background: true,
      metadata: { emulator_duration_ms: '5000' },
    });
    const cancelled = await h.client.responses.cancel(created.id);
    expect(cancelled.status).toBe('cancelled');
    const again = await h.client.responses.cancel(created.id);
    expect(again).toEqual(cancelled);
    expect((await h.client.responses.retrieve(created.id)).status).toBe('cancelled');
  });

  it('answers a cancel of a finished background response with its final object', async () => {
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'quick',
      background: true,
      metadata: { emulator_duration_ms: '0' },
    });
    const done = await until(
      () => h.client.responses.retrieve(created.id),
      (r) => r.status === 'completed',
    );
    expect((await h.client.responses.cancel(created.id)).status).toBe(done.status);
  });

  it('refuses to cancel a response that is not in background mode', async () => {
    const plain = await h.client.responses.create({ model: 'gpt-4.1', input: 'sync' });
    const error = await h.client.responses.cancel(plain.id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('background=true');
  });

  it('forgets a running response once deleted', async () => {
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_duration_ms: '5000' },
    });
    await h.client.responses.delete(created.id);
    await expect(h.client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(h.client.responses.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('streams in background and resumes live from a sequence number after the client drops', async () => {
    const stream = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Write me a very long story.',
      background: true,
      stream: true,
      metadata: { emulator_duration_ms: '600' },
    });
    let id = '';
    let cursor = -1;
    const firstPart: ResponseStreamEvent[] = [];
    for await (const event of stream) {
      firstPart.push(event);
      if (event.type === 'response.created') id = event.response.id;
      cursor = event.sequence_number;
      if (event.type === 'response.in_progress') break;
    }
    expect(firstPart.map((e) => e.type)).toEqual([
      'response.created',
      'response.queued',
      'response.in_progress',
    ]);
    expect(firstPart[0]?.type === 'response.created' && firstPart[0].response.status).toBe('queued');
    expect((await h.client.responses.retrieve(id)).status).not.toBe('completed');

    const rest = await collect(
      await h.client.responses.retrieve(id, { stream: true, starting_after: cursor }),
    );
    expect(rest[0]?.sequence_number).toBe(cursor + 1);
    expect(rest.map((e) => e.sequence_number)).toEqual(rest.map((_, i) => cursor + 1 + i));
    expect(rest.at(-1)?.type).toBe('response.completed');
  });

  it('takes its duration and outcome from metadata steering knobs', async () => {
    const failed = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_outcome: 'failed', emulator_duration_ms: '50' },
    });
    const failedFinal = await until(
      () => h.client.responses.retrieve(failed.id),
      (r) => r.status === 'failed',
    );
    expect(failedFinal.status).toBe('failed');
    expect(failedFinal.error?.code).toBe('server_error');

    const incomplete = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      metadata: { emulator_outcome: 'incomplete' },
    });
    expect(incomplete.status).toBe('incomplete');
    expect(incomplete.incomplete_details?.reason).toBe('max_output_tokens');

    const started = Date.now();
    const slow = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'x',
      background: true,
      metadata: { emulator_duration_ms: '800' },
    });
    await sleep(300);
    expect((await h.client.responses.retrieve(slow.id)).status).toBe('in_progress');
    await until(
      () => h.client.responses.retrieve(slow.id),
      (r) => r.status === 'completed',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  });

  it('ends a failed stream with response.failed', async () => {
    const events = await collect(
      await h.client.responses.create({
        model: 'gpt-4.1',
        input: 'x',
        stream: true,
        metadata: { emulator_outcome: 'failed' },
      }),
    );
    expect(events.at(-1)?.type).toBe('response.failed');
  });

  it('stops at max_output_tokens with an incomplete response', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'tell me everything '.repeat(20),
      max_output_tokens: 16,
    });
    expect(response.status).toBe('incomplete');
    expect(response.output_text.length).toBeLessThanOrEqual(64);
  });
});
