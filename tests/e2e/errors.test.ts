/** Every error class the service answers, each OpenAI-shaped so SDKs raise their usual errors. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { startStack, type Stack } from './stack';

let stack: Stack;
let caller: { key: string; client: OpenAI };

beforeAll(async () => {
  stack = await startStack({
    settings: { MAX_REQUEST_BYTES: '65536', AZURE_OPENAI_TIMEOUT_MS: '1500', AZURE_OPENAI_MAX_RETRIES: '1' },
  });
  caller = await stack.newCaller('errors');
});

afterAll(async () => {
  await stack?.stop();
});

// Faults a test injected never outlive it, even when it fails before they are used up.
afterEach(async () => {
  await stack?.clearFaults();
});

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json', ...headers },
    body,
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as {
      error: { message: string; type: string; param: string | null; code: string | null };
    },
  };
}

function expectShape(body: { error: Record<string, unknown> }) {
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
}

describe('errors the service answers', () => {
  it('rejects a request without credentials with 401 (fail closed)', async () => {
    const res = await fetch(`${stack.baseURL}/responses/resp_x`);
    expect(res.status).toBe(401);
    expectShape((await res.json()) as never);
  });

  it('rejects a wrong key with 401 through the SDK', async () => {
    const bad = new OpenAI({ baseURL: stack.baseURL, apiKey: 'rgw_not-a-real-key', maxRetries: 0 });
    await expect(bad.responses.create({ model: 'gpt-4.1', input: 'hi' })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });

  it('ignores forged App Service principal headers when App Service Authentication is off', async () => {
    const res = await fetch(`${stack.baseURL}/responses/resp_x`, {
      headers: {
        'x-ms-client-principal-id': '00000000-0000-0000-0000-000000000001',
        'x-ms-client-principal-name': 'admin',
      },
    });
    expect(res.status).toBe(401);
  });

  it('answers invalid JSON with 400', async () => {
    const r = await post('{"input": ');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('invalid_json');
    expectShape(r.body);
  });

  it('answers wrong field types with 400 naming the field', async () => {
    const r = await post(JSON.stringify({ input: 'x', stream: 'yes' }));
    expect(r.status).toBe(400);
    expect(r.body.error.param).toBe('stream');
  });

  it('answers a deployment outside the allow-list with 400 listing the allowed ones', async () => {
    await expect(caller.client.responses.create({ model: 'gpt-5-secret', input: 'x' })).rejects.toMatchObject(
      { status: 400 },
    );
    const r = await post(JSON.stringify({ model: 'gpt-5-secret', input: 'x' }));
    expect(r.body.error.message).toContain('gpt-4.1');
    expect(r.body.error.param).toBe('model');
  });

  it('answers a body over the limit with 413', async () => {
    const r = await post(JSON.stringify({ input: 'x'.repeat(100_000) }));
    expect(r.status).toBe(413);
    expectShape(r.body);
  });

  it('passes an upstream 400 through with its message', async () => {
    const r = await post(JSON.stringify({ model: 'gpt-4.1', input: 'x', background: true, store: false }));
    expect(r.status).toBe(400);
    expect(r.body.error.message.length).toBeGreaterThan(0);
  });

  it('names an unknown deployment in a 404', async () => {
    const r = await post(JSON.stringify({ model: 'missing-deployment', input: 'x' }));
    expect(r.status).toBe(404);
    expect(r.body.error.message).toContain('missing-deployment');
  });

  it('answers 429 with retry-after after its own bounded retries', async () => {
    await stack.fault({ kind: '429', count: 5, retryAfterMs: 50 });
    const r = await post(JSON.stringify({ model: 'gpt-4.1', input: 'x' }));
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expectShape(r.body);
    await stack.clearFaults(); // the storm ends: the next create goes through
    await expect(
      caller.client.responses.create({ model: 'gpt-4.1', input: 'after the storm' }),
    ).resolves.toMatchObject({ status: 'completed' });
  });

  it('recovers from a single 429 without the caller noticing', async () => {
    await stack.fault({ kind: '429', count: 1, retryAfterMs: 20 });
    await expect(caller.client.responses.create({ model: 'gpt-4.1', input: 'x' })).resolves.toMatchObject({
      status: 'completed',
    });
  });

  it('answers upstream 5xx (after retries) with 502', async () => {
    await stack.fault({ kind: '500', count: 10 });
    const r = await post(JSON.stringify({ model: 'gpt-4.1', input: 'x' }));
    expect(r.status).toBe(502);
    expectShape(r.body);
  });

  it('answers an upstream timeout with 504', async () => {
    await stack.fault({ kind: 'latency', latencyMs: 4000, count: 1 });
    const r = await post(JSON.stringify({ model: 'gpt-4.1', input: 'x' }));
    expect(r.status).toBe(504);
    expectShape(r.body);
  });

  it('ends a cut stream with an error event rather than hanging', async () => {
    await stack.fault({ kind: 'stream_cut', count: 1 });
    const res = await fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: 'a stream that breaks', stream: true }),
    });
    const text = await res.text();
    expect(text).toContain('event: response.created');
    expect(text).toContain('event: error');
    expect(text).not.toContain('event: response.completed');
  });
});

describe('the service’s own credential is rejected upstream', () => {
  let broken: Stack;
  beforeAll(async () => {
    broken = await startStack({ settings: { AZURE_OPENAI_API_KEY: 'wrong-key' } });
  });
  afterAll(async () => {
    await broken?.stop();
  });

  it('answers 502 with advice on the identity, never leaking the credential', async () => {
    const { key } = await broken.newCaller('broken');
    const res = await fetch(`${broken.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: 'x' }),
    });
    const body = (await res.json()) as { error: { message: string } };
    expect(res.status).toBe(502);
    expect(body.error.message).toMatch(/role/);
    expect(body.error.message).not.toContain('wrong-key');
    expect(broken.hostLogs()).not.toContain('wrong-key');
  });
});
