/**
 * The emulator refuses, filters and fails the way Azure OpenAI does: request validation with the service's
 * `param`/`code`, content filtering both ways, in-stream errors, foreground streams that end with their
 * connection, structured outputs, and the request log. Every answer is also checked against the official
 * schemas (afterEach).
 */
import OpenAI from 'openai';
import type { ResponseStreamEvent } from 'openai/resources/responses/responses';
import Ajv2020 from 'ajv/dist/2020';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readEmulatorRequests, clearEmulatorRequests } from '../support/emulator-requests';
import {
  API_KEY,
  collect,
  expectSchemaClean,
  parseSse,
  sleep,
  startHarness,
  until,
  type Harness,
} from './support';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});

afterEach(async () => {
  await h.clearFaults();
  await expectSchemaClean(h);
});

afterAll(async () => {
  await h.emulator.close();
});

async function rawCreate(body: Record<string, unknown>, headers: Record<string, string> = {}) {
  const res = await h.call('/openai/v1/responses', { method: 'POST', body: JSON.stringify(body), headers });
  return { status: res.status, body: (await res.json()) as { error: Record<string, unknown> } };
}

describe('request validation', () => {
  const base = { model: 'gpt-4.1', input: 'hi' };
  const cases: Array<[string, Record<string, unknown>, string, string]> = [
    ['a temperature of the wrong type', { temperature: 'hot' }, 'temperature', 'invalid_type'],
    ['a temperature out of range', { temperature: 5 }, 'temperature', 'decimal_above_max_value'],
    ['max_output_tokens under 16', { max_output_tokens: 5 }, 'max_output_tokens', 'integer_below_min_value'],
    ['an unknown parameter', { bogus_flag: true }, 'bogus_flag', 'unknown_parameter'],
    ['an unknown include value', { include: ['bogus.value'] }, 'include[0]', 'invalid_value'],
    [
      'a json_schema format without a schema',
      { text: { format: { type: 'json_schema', name: 'answer' } } },
      'text.format.schema',
      'missing_required_parameter',
    ],
    [
      'reasoning on a non-reasoning model',
      { reasoning: { effort: 'high' } },
      'reasoning.effort',
      'unsupported_parameter',
    ],
    [
      'a metadata value over 512 characters',
      { metadata: { note: 'x'.repeat(513) } },
      'metadata.note',
      'string_above_max_length',
    ],
    [
      'previous_response_id together with conversation',
      { previous_response_id: 'resp_x', conversation: 'conv_x' },
      'conversation',
      'mutually_exclusive_parameters',
    ],
    ['a tool_choice outside the enum', { tool_choice: 'sometimes' }, 'tool_choice', 'invalid_value'],
  ];

  it.each(cases)('refuses %s with 400 and the parameter named', async (_what, extra, param, code) => {
    const { status, body } = await rawCreate({ ...base, ...extra });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param, code });
    expect(String(body.error.message)).toMatch(/^(Invalid|Unknown|Missing|Unsupported|Mutually)/);
  });

  it('refuses temperature on a reasoning model, and accepts reasoning there', async () => {
    const { status, body } = await rawCreate({ model: 'o4-mini', input: 'hi', temperature: 0.2 });
    expect([status, body.error.param, body.error.code]).toEqual([
      400,
      'temperature',
      'unsupported_parameter',
    ]);
    const ok = await h.client.responses.create({
      model: 'o4-mini',
      input: 'hi',
      reasoning: { effort: 'low' },
    });
    expect(ok.status).toBe('completed');
  });

  it('accepts the edge of each range', async () => {
    const ok = await h.client.responses.create({
      ...base,
      temperature: 2,
      top_p: 0,
      max_output_tokens: 16,
      metadata: { note: 'x'.repeat(512) },
      include: ['message.output_text.logprobs'],
    });
    expect(ok.status).toBeDefined();
  });

  it('stores nothing for a refused request', async () => {
    const before = (await (await h.call('/_emulator/stats')).json()) as { responses: number };
    await rawCreate({ ...base, temperature: 'hot' });
    const after = (await (await h.call('/_emulator/stats')).json()) as { responses: number };
    expect(after.responses).toBe(before.responses);
  });
});

describe('wire shapes', () => {
  it('sends store and no output_text, and echoes function tools with strict', async () => {
    const res = await rawCreate({
      model: 'gpt-4.1',
      input: 'Weather in Paris?',
      tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: {} } }],
    });
    const body = res.body as unknown as Record<string, unknown>;
    expect(res.status).toBe(200);
    expect(body).not.toHaveProperty('output_text');
    expect(body.store).toBe(true);
    expect((body.tools as Array<Record<string, unknown>>)[0]).toMatchObject({
      type: 'function',
      strict: true,
    });
  });

  it('answers usage: null while a background response is queued', async () => {
    const res = await rawCreate({ model: 'gpt-4.1', input: 'later', background: true });
    const body = res.body as unknown as Record<string, unknown>;
    expect(body.status).toBe('queued');
    expect(body).toHaveProperty('usage', null);
  });

  it('lists assistant input items with logprobs on their text', async () => {
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'Hello' },
        { role: 'assistant', content: 'Hi there' },
        { role: 'user', content: 'Again' },
      ],
    });
    const items = await h.client.responses.inputItems.list(created.id, { order: 'asc' });
    const assistant = items.data.find((i) => i.type === 'message' && i.role === 'assistant');
    expect(assistant?.type === 'message' && assistant.content[0]).toMatchObject({
      type: 'output_text',
      text: 'Hi there',
      logprobs: [],
    });
  });
});

describe('content filtering', () => {
  it('refuses a prompt with the marker word with 400 content_filter and the filter results', async () => {
    const { status, body } = await rawCreate({
      model: 'gpt-4.1',
      input: 'Tell me emulator-filter-prompt now',
    });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({
      code: 'content_filter',
      param: 'prompt',
      innererror: {
        code: 'ResponsibleAIPolicyViolation',
        content_filter_result: { violence: { filtered: true, severity: 'medium' } },
      },
    });
  });

  it('filters the prompt through instructions too, and through a content_filter fault', async () => {
    expect(
      (await rawCreate({ model: 'gpt-4.1', input: 'hi', instructions: 'EMULATOR-FILTER-PROMPT' })).status,
    ).toBe(400);
    await h.addFault({ kind: 'content_filter', count: 1 });
    expect((await rawCreate({ model: 'gpt-4.1', input: 'harmless' })).body.error.code).toBe('content_filter');
    expect((await rawCreate({ model: 'gpt-4.1', input: 'harmless' })).status).toBe(200);
  });

  it('ends a filtered completion incomplete with reason content_filter, cut before the marker', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Say emulator-filter-completion please',
    });
    expect(response.status).toBe('incomplete');
    expect(response.incomplete_details).toEqual({ reason: 'content_filter' });
    expect(response.output_text).toBe('You said: "Say');
    const message = response.output.find((i) => i.type === 'message');
    expect(message?.type === 'message' && message.status).toBe('incomplete');
  });

  it('streams a filtered completion to response.incomplete', async () => {
    await h.addFault({ kind: 'content_filter', target: 'completion', count: 1 });
    const events = await collect(
      await h.client.responses.create({ model: 'gpt-4.1', input: 'A harmless question.', stream: true }),
    );
    const last = events.at(-1);
    expect(last?.type).toBe('response.incomplete');
    expect(last?.type === 'response.incomplete' && last.response.incomplete_details).toEqual({
      reason: 'content_filter',
    });
  });
});

describe('in-stream errors and timeouts', () => {
  it('sends an error event then response.failed after partial output (stream_error)', async () => {
    await h.addFault({ kind: 'stream_error', afterEvents: 5, count: 1 });
    const events = await collect(
      await h.client.responses.create({ model: 'gpt-4.1', input: 'Tell me a long story.', stream: true }),
    );
    const types = events.map((e) => e.type);
    expect(types.slice(-2)).toEqual(['error', 'response.failed']);
    expect(types.filter((t) => t === 'response.output_text.delta').length).toBeGreaterThan(0);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const error = events.at(-2);
    expect(error?.type === 'error' && [error.code, error.param]).toEqual(['server_error', null]);
    const failed = events.at(-1);
    expect(failed?.type === 'response.failed' && failed.response.error?.code).toBe('server_error');
    const id = events[0]?.type === 'response.created' ? events[0].response.id : '';
    expect((await h.client.responses.retrieve(id)).status).toBe('failed');
  });

  it('carries a mid-stream 429 as rate_limit_exceeded, and a stalled upstream as timeout', async () => {
    await h.addFault({ kind: 'stream_error', afterEvents: 3, code: 'rate_limit_exceeded', count: 1 });
    const limited = await collect(
      await h.client.responses.create({ model: 'gpt-4.1', input: 'x', stream: true }),
    );
    const failed = limited.at(-1);
    expect(failed?.type === 'response.failed' && failed.response.error?.code).toBe('rate_limit_exceeded');

    await h.addFault({ kind: 'stream_error', afterEvents: 3, code: 'timeout', delayMs: 300, count: 1 });
    const started = Date.now();
    const timedOut = await collect(
      await h.client.responses.create({ model: 'gpt-4.1', input: 'x', stream: true }),
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    const error = timedOut.at(-2);
    expect(error?.type === 'error' && error.code).toBe('timeout');
    const last = timedOut.at(-1);
    expect(last?.type === 'response.failed' && last.response.error?.code).toBe('server_error');
  });

  it('can end the stream on the error event alone (terminal: false)', async () => {
    await h.addFault({ kind: 'stream_error', afterEvents: 4, terminal: false, count: 1 });
    const events = await collect(
      await h.client.responses.create({ model: 'gpt-4.1', input: 'x', stream: true }),
    );
    expect(events.map((e) => e.type).slice(-1)).toEqual(['error']);
    expect(events).toHaveLength(5);
    const id = events[0]?.type === 'response.created' ? events[0].response.id : '';
    const stored = await h.client.responses.retrieve(id);
    expect([stored.status, stored.error?.code]).toEqual(['failed', 'server_error']);
  });

  it('answers 408 and 504 faults with error bodies', async () => {
    const client = h.clientWith({ maxRetries: 0 });
    for (const kind of ['408', '504']) {
      await h.addFault({ kind, count: 1 });
      const error = await client.responses.create({ model: 'gpt-4.1', input: 'x' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(Number(kind));
    }
  });

  it('delivers exactly afterEvents frames before dropping the socket (stream_cut abort)', async () => {
    await h.addFault({ kind: 'stream_cut', afterEvents: 3, abort: true, count: 1 });
    const res = await fetch(`${h.baseURL}/responses`, {
      method: 'POST',
      headers: { 'api-key': API_KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: 'drop me', stream: true }),
    });
    let text = '';
    const decoder = new TextDecoder();
    await expect(
      (async () => {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
          text += decoder.decode(chunk);
      })(),
    ).rejects.toThrow();
    expect(parseSse(text).map((f) => f.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
    ]);
  });
});

describe('foreground and background streams', () => {
  it('cancels a foreground stream when its client goes away, and refuses to resume it', async () => {
    const stream = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'A long answer please.',
      stream: true,
      metadata: { emulator_duration_ms: '2000' },
    });
    let id = '';
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      if (event.type === 'response.in_progress') break;
    }
    const after = await until(
      () => h.client.responses.retrieve(id),
      (r) => r.status !== 'in_progress',
    );
    expect(after.status).toBe('cancelled');
    await sleep(100);
    const error = await h.client.responses
      .retrieve(id, { stream: true, starting_after: 0 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('stream');
  });

  it('keeps a background stream running when its client goes away, and resumes it', async () => {
    const stream = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'A long answer please.',
      stream: true,
      background: true,
      metadata: { emulator_duration_ms: '400' },
    });
    let id = '';
    let cursor = -1;
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      cursor = event.sequence_number;
      if (event.type === 'response.in_progress') break;
    }
    const rest: ResponseStreamEvent[] = await collect(
      await h.client.responses.retrieve(id, { stream: true, starting_after: cursor }),
    );
    expect(rest.at(-1)?.type).toBe('response.completed');
  });
});

describe('structured outputs', () => {
  it('answers JSON valid against the given schema', async () => {
    const schema = {
      type: 'object',
      properties: {
        city: { type: 'string' },
        temperature: { type: 'number', minimum: -50, maximum: 60 },
        unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2 },
        when: { anyOf: [{ type: 'string', format: 'date' }, { type: 'null' }] },
        nested: { $ref: '#/$defs/Nested' },
      },
      required: ['city', 'temperature', 'unit', 'tags', 'when', 'nested'],
      additionalProperties: false,
      $defs: {
        Nested: {
          type: 'object',
          properties: { ok: { type: 'boolean' }, count: { type: 'integer', exclusiveMinimum: 3 } },
          required: ['ok', 'count'],
          additionalProperties: false,
        },
      },
    };
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Weather in Paris as JSON.',
      text: { format: { type: 'json_schema', name: 'weather', schema, strict: true } },
    });
    const parsed: unknown = JSON.parse(response.output_text);
    const validate = new Ajv2020({ strict: false }).compile(schema);
    expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
    expect((parsed as { city: string }).city).toBe('Weather in Paris as JSON.');
  });

  it('answers a JSON object for json_object', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Reply in JSON.',
      text: { format: { type: 'json_object' } },
    });
    expect(JSON.parse(response.output_text)).toEqual({ answer: expect.stringContaining('Reply in JSON.') });
  });
});

describe('request log', () => {
  it('records what each namespace sent, credentials redacted, and forgets a namespace on request', async () => {
    const mine = `ns-${Date.now()}`;
    const other = `${mine}-other`;
    await h.client.responses.create(
      { model: 'gpt-4.1', input: 'logged', metadata: { tag: 'a' } },
      { headers: { 'x-emulator-namespace': mine, 'x-ms-oai-image-generation-deployment': 'gpt-image-1' } },
    );
    await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'other',
      metadata: { emulator_namespace: other },
    });
    await rawCreate({ model: 'gpt-4.1', input: 'hi', temperature: 'hot' }, { 'x-emulator-namespace': mine });

    const logged = await readEmulatorRequests(h.emulator.url, { namespace: mine, apiKey: API_KEY });
    expect(logged.map((r) => [r.method, r.route, r.status])).toEqual([
      ['POST', '/responses', 200],
      ['POST', '/responses', 400],
    ]);
    expect(logged[0]?.body).toMatchObject({ model: 'gpt-4.1', input: 'logged', metadata: { tag: 'a' } });
    expect(logged[0]?.headers['x-ms-oai-image-generation-deployment']).toBe('gpt-image-1');
    expect(logged[0]?.headers['api-key'] ?? logged[0]?.headers.authorization).toBe('<redacted>');
    expect(JSON.stringify(logged)).not.toContain(API_KEY);

    const others = await readEmulatorRequests(h.emulator.url, { namespace: other, apiKey: API_KEY });
    expect(others.map((r) => (r.body as { input: string }).input)).toEqual(['other']);

    const since = logged[0]!.seq;
    expect(
      (await readEmulatorRequests(h.emulator.url, { namespace: mine, since, apiKey: API_KEY })).length,
    ).toBe(1);
    await clearEmulatorRequests(h.emulator.url, { namespace: mine, apiKey: API_KEY });
    expect(await readEmulatorRequests(h.emulator.url, { namespace: mine, apiKey: API_KEY })).toEqual([]);
    expect((await readEmulatorRequests(h.emulator.url, { namespace: other, apiKey: API_KEY })).length).toBe(
      1,
    );
  });
});
