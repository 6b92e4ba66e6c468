import OpenAI from 'openai';
import type { ResponseInputItem, ResponseItem } from 'openai/resources/responses/responses';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, startHarness, expectSchemaClean, type Harness } from './support';

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

describe('creating and reading responses', () => {
  it('answers a plain text request with a complete response object that quotes the user', async () => {
    const response = await h.client.responses.create({ model: 'gpt-4.1', input: 'This is a test.' });

    expect(response.id).toMatch(/^resp_[0-9a-f]{48}$/);
    expect(response.object).toBe('response');
    expect(response.status).toBe('completed');
    expect(response.model).toBe('gpt-4.1');
    expect(response.output_text).toContain('You said: "This is a test."');
    const message = response.output[0];
    expect(message?.type).toBe('message');
    expect(message && 'id' in message ? message.id : '').toMatch(/^msg_/);
    for (const field of [
      'error',
      'incomplete_details',
      'instructions',
      'metadata',
      'tools',
      'tool_choice',
      'temperature',
      'top_p',
      'parallel_tool_calls',
    ]) {
      expect(response).toHaveProperty(field);
    }
    expect(response.usage?.input_tokens).toBeGreaterThan(0);
    expect(response.usage?.output_tokens).toBeGreaterThan(0);
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );
  });

  it('tags every answer with a request id, errors included', async () => {
    const ok = await h.client.responses.create({ model: 'gpt-4.1', input: 'hi' }).withResponse();
    expect(ok.response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok.response.headers.get('apim-request-id')).toBe(ok.response.headers.get('x-request-id'));
    const missing = await h.call('/openai/v1/responses/resp_nope');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('apim-request-id')).toBeTruthy();
  });

  it('retrieves a stored response and forgets it once deleted', async () => {
    const created = await h.client.responses.create({ model: 'gpt-4.1-mini', input: 'Remember me.' });
    const read = await h.client.responses.retrieve(created.id);
    expect(read.output_text).toBe(created.output_text);

    const raw = await h.call(`/openai/v1/responses/${created.id}`, { method: 'DELETE' });
    expect(await raw.json()).toEqual({ id: created.id, object: 'response.deleted', deleted: true });
    await expect(h.client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(h.client.responses.delete(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('does not keep a response created with store: false', async () => {
    const created = await h.client.responses.create({ model: 'gpt-4.1', input: 'Forget me.', store: false });
    expect(created.status).toBe('completed');
    await expect(h.client.responses.retrieve(created.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('accepts the key as api-key or as a bearer token, and refuses a wrong key with 401', async () => {
    const viaHeader = await fetch(`${h.baseURL}/models`, { headers: { 'api-key': API_KEY } });
    const viaBearer = await fetch(`${h.baseURL}/models`, { headers: { authorization: `Bearer ${API_KEY}` } });
    expect([viaHeader.status, viaBearer.status]).toEqual([200, 200]);

    const wrong = h.clientWith({ apiKey: 'wrong-key', maxRetries: 0 });
    const error = await wrong.responses.create({ model: 'gpt-4.1', input: 'hi' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((error as InstanceType<typeof OpenAI.AuthenticationError>).error).toMatchObject({
      code: '401',
      type: 'invalid_request_error',
    });
    expect((await fetch(`${h.baseURL}/models`)).status).toBe(401);
  });

  it('answers an unknown deployment with Azure DeploymentNotFound', async () => {
    const error = await h.client.responses
      .create({ model: 'gpt-nope', input: 'hi' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    const body = (error as InstanceType<typeof OpenAI.NotFoundError>).error as {
      code: string;
      message: string;
    };
    expect(body.code).toBe('DeploymentNotFound');
    expect(body.message).toMatch(/^The API deployment for this resource does not exist\./);
  });

  it('requires model', async () => {
    const res = await h.call('/openai/v1/responses', {
      method: 'POST',
      body: JSON.stringify({ input: 'hi' }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { param: 'model', code: 'missing_required_parameter' } });
  });

  it('lists the deployments as models for health checks', async () => {
    const models = await h.client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['gpt-4.1', 'gpt-4.1-mini', 'o4-mini', 'gpt-image-1']);
  });

  it('acknowledges images given by URL and as a data URI', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is in this image?' },
            { type: 'input_image', image_url: 'https://example.com/otter.png', detail: 'auto' },
            {
              type: 'input_image',
              image_url: `data:image/png;base64,${Buffer.from('12345678').toString('base64')}`,
              detail: 'low',
            },
          ],
        },
      ],
    });
    expect(response.output_text).toContain(
      'I received 2 images: https://example.com/otter.png; an inline image/png of 8 bytes.',
    );
  });
});

describe('conversations', () => {
  it('carries earlier turns through previous_response_id', async () => {
    const first = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'Define catastrophic forgetting.',
    });
    const second = await h.client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      input: 'Explain it for a college freshman.',
    });
    const third = await h.client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: second.id,
      input: 'Shorter please.',
    });

    expect(second.previous_response_id).toBe(first.id);
    expect(second.output_text).toContain('You said: "Explain it for a college freshman."');
    expect(second.output_text).toContain(
      '1 earlier turn in this conversation; the first thing you said was: "Define catastrophic forgetting."',
    );
    expect(third.output_text).toContain('2 earlier turns');
    expect(third.usage!.input_tokens).toBeGreaterThan(second.usage!.input_tokens);
  });

  it('refuses an unknown previous_response_id with 400 previous_response_not_found', async () => {
    const error = await h.client.responses
      .create({ model: 'gpt-4.1', previous_response_id: 'resp_missing', input: 'hi' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('previous_response_id');
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('previous_response_not_found');
  });

  it('understands manual chaining with earlier output items sent back as input', async () => {
    const inputs: ResponseInputItem[] = [
      {
        type: 'message',
        role: 'user',
        content: 'Define and explain the concept of catastrophic forgetting?',
      },
    ];
    const first = await h.client.responses.create({ model: 'gpt-4.1', input: inputs });
    inputs.push(...(first.output as ResponseInputItem[]));
    inputs.push({
      role: 'user',
      type: 'message',
      content: 'Explain this at a level that could be understood by a college freshman',
    });
    const second = await h.client.responses.create({ model: 'gpt-4.1', input: inputs });
    expect(second.output_text).toContain('1 earlier turn');
    expect(second.output_text).toContain('"Define and explain the concept of catastrophic forgetting?"');
  });

  it('pages input items with limit, order, after and before', async () => {
    const first = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [1, 2, 3].map((n) => ({ role: 'user' as const, content: `turn ${n}` })),
    });
    const second = await h.client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      input: 'turn 4',
    });
    // Context of the second turn: three user messages, the first answer, the fourth user message.
    const all: ResponseItem[] = [];
    for await (const item of h.client.responses.inputItems.list(second.id, { order: 'asc', limit: 2 }))
      all.push(item);
    expect(all).toHaveLength(5);
    expect(all.every((i) => 'id' in i && /^msg_/.test(i.id))).toBe(true);
    expect(all.map((i) => (i.type === 'message' ? i.role : i.type))).toEqual([
      'user',
      'user',
      'user',
      'assistant',
      'user',
    ]);

    const newestFirst = await h.client.responses.inputItems.list(second.id, { limit: 2 });
    expect(newestFirst.data.map((i) => i.id)).toEqual([all[4]!.id, all[3]!.id]);
    expect(newestFirst.has_more).toBe(true);

    const after = await h.client.responses.inputItems.list(second.id, {
      order: 'asc',
      after: all[1]!.id,
      limit: 2,
    });
    expect(after.data.map((i) => i.id)).toEqual([all[2]!.id, all[3]!.id]);

    const before = await h.call(
      `/openai/v1/responses/${second.id}/input_items?order=asc&before=${all[2]!.id}`,
    );
    const page = (await before.json()) as {
      data: Array<{ id: string }>;
      first_id: string;
      last_id: string;
      has_more: boolean;
    };
    expect(page.data.map((i) => i.id)).toEqual([all[0]!.id, all[1]!.id]);
    expect(page).toMatchObject({ first_id: all[0]!.id, last_id: all[1]!.id, has_more: false });
  });

  it('counts input tokens, earlier turns included', async () => {
    const short = await h.client.responses.inputTokens.count({ model: 'gpt-4.1', input: 'Hello there' });
    expect(short).toEqual({ object: 'response.input_tokens', input_tokens: expect.any(Number) as number });
    const long = await h.client.responses.inputTokens.count({
      model: 'gpt-4.1',
      input: 'Hello there '.repeat(100),
    });
    expect(long.input_tokens).toBeGreaterThan(short.input_tokens + 200);
    const first = await h.client.responses.create({ model: 'gpt-4.1', input: 'Hello there '.repeat(100) });
    const chained = await h.client.responses.inputTokens.count({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      input: 'and?',
    });
    expect(chained.input_tokens).toBeGreaterThan(long.input_tokens);
  });
});

describe('compaction', () => {
  it('compacts input items into an encrypted item a later request carries back in', async () => {
    const compacted = await h.client.responses.compact({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'Create a simple landing page for a dog petting café.' },
        {
          id: 'msg_001',
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [{ type: 'output_text', text: 'Here it is...', annotations: [] }],
        },
      ],
    });
    expect(compacted.object).toBe('response.compaction');
    // The user's messages are kept verbatim; the rest folds into one compaction item at the end.
    expect(compacted.output.map((i) => ('role' in i ? `${i.type}:${i.role}` : i.type))).toEqual([
      'message:user',
      'compaction',
    ]);
    const item = compacted.output.at(-1);
    expect(item?.type).toBe('compaction');
    expect(item && 'id' in item ? item.id : '').toMatch(/^cmp_/);
    expect(item?.type === 'compaction' ? item.encrypted_content : '').not.toContain('dog');

    const next = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [...(compacted.output as ResponseInputItem[]), { role: 'user', content: 'Add opening hours.' }],
    });
    expect(next.output_text).toContain('You said: "Add opening hours."');
    expect(next.output_text).toContain(
      '1 earlier turn in this conversation; the first thing you said was: "Create a simple landing page for a dog petting café."',
    );
  });

  it('compacts by previous_response_id', async () => {
    const initial = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'What is the size of France?',
    });
    const compacted = await h.client.responses.compact({
      model: 'gpt-4.1',
      previous_response_id: initial.id,
    });
    const next = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [...(compacted.output as ResponseInputItem[]), { role: 'user', content: 'And Spain?' }],
    });
    expect(next.output_text).toContain('the first thing you said was: "What is the size of France?"');
  });

  it('compacts server-side when context_management crosses the threshold', async () => {
    const below = await h.client.responses.create({
      model: 'gpt-4.1',
      input: 'short',
      store: false,
      context_management: [{ type: 'compaction', compact_threshold: 1000 }],
    });
    expect(below.output.some((i) => i.type === 'compaction')).toBe(false);

    const conversation: ResponseInputItem[] = [
      { type: 'message', role: 'user', content: `Let's begin a long coding task. ${'x '.repeat(2500)}` },
    ];
    const above = await h.client.responses.create({
      model: 'gpt-4.1',
      input: conversation,
      store: false,
      // The service's smallest threshold is 1000 tokens.
      context_management: [{ type: 'compaction', compact_threshold: 1000 }],
    });
    const compaction = above.output[0];
    expect(compaction?.type).toBe('compaction');
    conversation.push(...(above.output as ResponseInputItem[]), {
      type: 'message',
      role: 'user',
      content: 'Next step.',
    });
    // Items before the latest compaction can be dropped; the compaction item carries them.
    const pruned = conversation.slice(conversation.findIndex((i) => i.type === 'compaction'));
    const next = await h.client.responses.create({ model: 'gpt-4.1', input: pruned, store: false });
    expect(next.output_text).toContain(
      '1 earlier turn in this conversation; the first thing you said was: "Let\'s begin a long coding task.',
    );
  });

  it('refuses a compaction item it did not produce', async () => {
    const error = await h.client.responses
      .create({
        model: 'gpt-4.1',
        input: [
          { type: 'compaction', encrypted_content: 'gAAAAAforged' },
          { role: 'user', content: 'hi' },
        ],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('invalid_encrypted_content');
  });
});
