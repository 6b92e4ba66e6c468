/**
 * The `/v1/responses` routes at handler level: each registered handler called with an `HttpRequest`, against
 * Azurite and the emulator. What is asserted is what a caller gets: status, body, headers.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Response } from 'openai/resources/responses/responses';
import { call, openAIError, sseEvents, startHandlerEnv, type HandlerEnv, type TestCaller } from './support';
import '../../functions/index';
import '../../functions/responses-create';
import '../../functions/responses-get';
import '../../functions/responses-cancel';
import '../../functions/responses-delete';
import '../../functions/responses-input-items';
import '../../functions/responses-compact';
import '../../functions/responses-input-tokens';
import '../../functions/responses-images';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

let env: HandlerEnv;
let alice: TestCaller;
let bob: TestCaller;

beforeAll(async () => {
  env = await startHandlerEnv();
  alice = await env.newCaller('alice');
  bob = await env.newCaller('bob');
});

afterAll(async () => {
  await env?.close();
});

async function create(caller: TestCaller, body: Record<string, unknown>): Promise<Response> {
  const answer = await call('responses-create', { key: caller.key, json: body });
  expect(answer.status, answer.text).toBe(200);
  return answer.json<Response>();
}

const outputText = (r: Response) =>
  r.output
    .flatMap((item) => (item.type === 'message' ? item.content : []))
    .map((c) => (c.type === 'output_text' ? c.text : ''))
    .join('');

describe('POST /v1/responses (responses-create)', () => {
  it('answers a synchronous create with the completed response as JSON', async () => {
    const answer = await call('responses-create', {
      key: alice.key,
      json: { model: 'gpt-4.1', input: 'Hello from a handler test.' },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('application/json');
    const response = answer.json<Response>();
    expect(response).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-4.1' });
    expect(outputText(response)).toBe('You said: "Hello from a handler test.".');
  });

  it('fills in the chat deployment when the body names no model', async () => {
    const response = await create(alice, { input: 'No model given.' });
    expect(response.model).toBe('gpt-4.1');
  });

  it('relays a stream as server-sent events, sequence numbers intact, ending with response.completed', async () => {
    const answer = await call('responses-create', {
      key: alice.key,
      json: { model: 'gpt-4.1', input: 'Stream this.', stream: true },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(answer.headers.get('cache-control')).toBe('no-cache');
    const events = sseEvents(answer.text);
    expect(events[0]!.type).toBe('response.created');
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(answer.text).toMatch(/^event: response\.created\ndata: /);
  });

  it('accepts a background create as queued', async () => {
    const response = await create(alice, { model: 'gpt-4.1', input: 'Later.', background: true });
    expect(response.status).toBe('queued');
    expect(response.background).toBe(true);
  });

  it('answers 401 without a key and with an unknown key', async () => {
    const missing = await call('responses-create', { key: null, json: { input: 'x' } });
    expect(missing.status).toBe(401);
    expect(openAIError(missing)).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    const wrong = await call('responses-create', { key: 'rgw_not-a-real-key', json: { input: 'x' } });
    expect(wrong.status).toBe(401);
    expect(openAIError(wrong).message).toContain('Invalid API key');
  });

  it('answers 400 naming the parameter for a model that is not allowed, and for a body that is not JSON', async () => {
    const model = await call('responses-create', { key: alice.key, json: { model: 'gpt-5', input: 'x' } });
    expect(model.status).toBe(400);
    expect(openAIError(model)).toMatchObject({
      type: 'invalid_request_error',
      param: 'model',
      code: 'model_not_allowed',
    });
    expect(openAIError(model).message).toContain('gpt-4.1');

    const notJson = await call('responses-create', {
      key: alice.key,
      body: '{"input": ',
      headers: { 'content-type': 'application/json' },
    });
    expect(notJson.status).toBe(400);
    expect(openAIError(notJson).code).toBe('invalid_json');
  });

  it("answers another caller's previous_response_id as an unknown one (400 previous_response_not_found)", async () => {
    const bobs = await create(bob, { input: 'Bob speaks.' });
    const chained = await call('responses-create', {
      key: alice.key,
      json: { input: 'Continue.', previous_response_id: bobs.id },
    });
    expect(chained.status).toBe(400);
    expect(openAIError(chained)).toMatchObject({
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
  });
});

describe('GET /v1/responses/{id} (responses-get)', () => {
  it("returns the caller's own response", async () => {
    const created = await create(alice, { input: 'Remember me.' });
    const answer = await call('responses-get', { key: alice.key, params: { id: created.id } });
    expect(answer.status).toBe(200);
    const response = answer.json<Response>();
    expect(response.id).toBe(created.id);
    expect(outputText(response)).toBe('You said: "Remember me.".');
  });

  it("answers another caller's id exactly like an unknown id: 404", async () => {
    const created = await create(alice, { input: 'Private.' });
    const foreign = await call('responses-get', { key: bob.key, params: { id: created.id } });
    const unknown = await call('responses-get', { key: bob.key, params: { id: 'resp_does_not_exist' } });
    expect(foreign.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(openAIError(foreign)).toMatchObject({ param: 'response_id', code: 'not_found' });
    expect(openAIError(foreign).message.replace(created.id, 'ID')).toBe(
      openAIError(unknown).message.replace('resp_does_not_exist', 'ID'),
    );
  });

  it('resumes a background stream after a sequence number, and refuses a starting_after that is not one', async () => {
    // Only background responses can be resumed (as on Azure OpenAI).
    const stream = await call('responses-create', {
      key: alice.key,
      json: { input: 'Resume me.', stream: true, background: true },
    });
    const events = sseEvents(stream.text);
    const id = (events[0]!.response as Response).id;
    const resumed = await call('responses-get', {
      key: alice.key,
      params: { id },
      query: 'stream=true&starting_after=2',
    });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(sseEvents(resumed.text).map((e) => e.sequence_number)).toEqual(
      events.slice(3).map((e) => e.sequence_number),
    );

    const bad = await call('responses-get', { key: alice.key, params: { id }, query: 'starting_after=-1' });
    expect(bad.status).toBe(400);
    expect(openAIError(bad).param).toBe('starting_after');
  });

  it('refuses an id that is not an id token with 400 naming it', async () => {
    const answer = await call('responses-get', { key: alice.key, params: { id: '../secrets' } });
    expect(answer.status).toBe(400);
    expect(openAIError(answer)).toMatchObject({ param: 'id', code: 'invalid_id' });
  });
});

describe('POST /v1/responses/{id}/cancel (responses-cancel)', () => {
  it('cancels a background response; retrieving it afterwards shows it cancelled', async () => {
    const created = await create(alice, {
      input: 'Take your time.',
      background: true,
      metadata: { emulator_duration_ms: '20000' },
    });
    const answer = await call('responses-cancel', { key: alice.key, params: { id: created.id } });
    expect(answer.status).toBe(200);
    expect(answer.json<Response>()).toMatchObject({ id: created.id, status: 'cancelled' });
    const again = await call('responses-cancel', { key: alice.key, params: { id: created.id } });
    expect(again.json<Response>().status).toBe('cancelled');
    const read = await call('responses-get', { key: alice.key, params: { id: created.id } });
    expect(read.json<Response>().status).toBe('cancelled');
  });

  it("answers 404 for another caller's response and leaves it running", async () => {
    const created = await create(alice, {
      input: 'Not yours to cancel.',
      background: true,
      metadata: { emulator_duration_ms: '20000' },
    });
    const answer = await call('responses-cancel', { key: bob.key, params: { id: created.id } });
    expect(answer.status).toBe(404);
    expect(openAIError(answer)).toMatchObject({ param: 'response_id', code: 'not_found' });
    const read = await call('responses-get', { key: alice.key, params: { id: created.id } });
    expect(read.json<Response>().status).not.toBe('cancelled');
    await call('responses-cancel', { key: alice.key, params: { id: created.id } });
  });

  it('answers 401 without credentials', async () => {
    const answer = await call('responses-cancel', { key: null, params: { id: 'resp_x' } });
    expect(answer.status).toBe(401);
    expect(openAIError(answer).type).toBe('authentication_error');
  });
});

describe('DELETE /v1/responses/{id} (responses-delete)', () => {
  it("deletes the caller's response, after which it is 404; another caller's delete is 404 and deletes nothing", async () => {
    const created = await create(alice, { input: 'Delete me.' });
    const foreign = await call('responses-delete', {
      method: 'DELETE',
      key: bob.key,
      params: { id: created.id },
    });
    expect(foreign.status).toBe(404);
    expect(openAIError(foreign).code).toBe('not_found');
    expect((await call('responses-get', { key: alice.key, params: { id: created.id } })).status).toBe(200);

    const deleted = await call('responses-delete', {
      method: 'DELETE',
      key: alice.key,
      params: { id: created.id },
    });
    expect(deleted.status).toBe(200);
    expect(deleted.json()).toMatchObject({ id: created.id, deleted: true });
    const after = await call('responses-get', { key: alice.key, params: { id: created.id } });
    expect(after.status).toBe(404);
    expect(openAIError(after).param).toBe('response_id');
  });
});

describe('GET /v1/responses/{id}/input_items (responses-input-items)', () => {
  it('lists the input items of the caller’s response', async () => {
    const created = await create(alice, { input: 'These are my items.' });
    const answer = await call('responses-input-items', {
      key: alice.key,
      params: { id: created.id },
      query: 'limit=10&order=asc',
    });
    expect(answer.status).toBe(200);
    const list = answer.json<{ object: string; data: { type: string; content: { text: string }[] }[] }>();
    expect(list.object).toBe('list');
    expect(list.data[0]!.content[0]!.text).toBe('These are my items.');
  });

  it('answers 400 naming limit or order, and 404 for another caller', async () => {
    const created = await create(alice, { input: 'x' });
    const limit = await call('responses-input-items', {
      key: alice.key,
      params: { id: created.id },
      query: 'limit=0',
    });
    expect(limit.status).toBe(400);
    expect(openAIError(limit).param).toBe('limit');
    const order = await call('responses-input-items', {
      key: alice.key,
      params: { id: created.id },
      query: 'order=sideways',
    });
    expect(openAIError(order).param).toBe('order');
    const foreign = await call('responses-input-items', { key: bob.key, params: { id: created.id } });
    expect(foreign.status).toBe(404);
  });
});

describe('POST /v1/responses/compact (responses-compact)', () => {
  it('compacts input items into one compaction item', async () => {
    const answer = await call('responses-compact', {
      key: alice.key,
      json: { model: 'gpt-4.1', input: [{ role: 'user', content: 'A long conversation, compacted.' }] },
    });
    expect(answer.status).toBe(200);
    const body = answer.json<{ object: string; output: { type: string }[] }>();
    expect(body.object).toBe('response.compaction');
    // The compaction item comes last, after the user messages kept as they were.
    expect(body.output.at(-1)?.type).toBe('compaction');
  });

  it('answers 400 naming input when there is nothing to compact, and 400 for a foreign previous_response_id', async () => {
    const nothing = await call('responses-compact', { key: alice.key, json: { model: 'gpt-4.1' } });
    expect(nothing.status).toBe(400);
    expect(openAIError(nothing)).toMatchObject({ param: 'input', code: 'missing_required_parameter' });
    const bobs = await create(bob, { input: 'Bob again.' });
    const foreign = await call('responses-compact', {
      key: alice.key,
      json: { previous_response_id: bobs.id },
    });
    expect(foreign.status).toBe(400);
    expect(openAIError(foreign)).toMatchObject({
      param: 'previous_response_id',
      code: 'previous_response_not_found',
    });
  });
});

describe('POST /v1/responses/input_tokens (responses-input-tokens)', () => {
  it('counts the input tokens of a request', async () => {
    const answer = await call('responses-input-tokens', {
      key: alice.key,
      json: { model: 'gpt-4.1', input: 'How many tokens is this sentence?' },
    });
    expect(answer.status).toBe(200);
    const body = answer.json<{ object: string; input_tokens: number }>();
    expect(body.object).toBe('response.input_tokens');
    expect(body.input_tokens).toBeGreaterThan(0);
  });

  it('answers 400 naming model for a deployment that is not allowed, and 401 without a key', async () => {
    const model = await call('responses-input-tokens', {
      key: alice.key,
      json: { model: 'gpt-5', input: 'x' },
    });
    expect(model.status).toBe(400);
    expect(openAIError(model).param).toBe('model');
    const anonymous = await call('responses-input-tokens', { key: null, json: { input: 'x' } });
    expect(anonymous.status).toBe(401);
  });
});

describe('GET /v1/responses/{id}/images/{item_id} (responses-images)', () => {
  it('serves a generated image as PNG to its owner only', async () => {
    const created = await create(alice, {
      input: 'Draw a small square.',
      tools: [{ type: 'image_generation' }],
    });
    const item = created.output.find((o) => o.type === 'image_generation_call')!;
    expect(item).toBeDefined();
    const answer = await call('responses-images', {
      key: alice.key,
      params: { id: created.id, item_id: item.id },
    });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe('image/png');
    expect(answer.headers.get('cache-control')).toBe('private, max-age=3600');
    expect(Number(answer.headers.get('content-length'))).toBe(answer.bytes.length);
    expect(answer.bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');

    const foreign = await call('responses-images', {
      key: bob.key,
      params: { id: created.id, item_id: item.id },
    });
    expect(foreign.status).toBe(404);
    expect(openAIError(foreign).param).toBe('response_id');

    const missing = await call('responses-images', {
      key: alice.key,
      params: { id: created.id, item_id: 'ig_missing' },
    });
    expect(missing.status).toBe(404);
    expect(openAIError(missing)).toMatchObject({ param: 'item_id', code: 'not_found' });
  });
});
