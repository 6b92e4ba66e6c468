/**
 * Every scenario of the Azure how-to, through the running service with the official `openai` SDK as a caller.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import type { Response, ResponseStreamEvent } from 'openai/resources/responses/responses';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { startStack, type Stack } from './stack';
import { setTimeout as sleep } from 'node:timers/promises';

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  stack = await startStack({ emulator: { streamEventDelayMs: 2, backgroundDurationMs: 600 } });
  client = (await stack.newCaller('scenarios')).client;
});

afterAll(async () => {
  await stack?.stop();
});

async function pdfWith(sentence: string): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage();
  page.drawText(sentence, { x: 50, y: 700, size: 12, font: await doc.embedFont(StandardFonts.Helvetica) });
  return Buffer.from(await doc.save());
}

const PNG_1x1 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('text generation and chaining', () => {
  it('answers a plain text request with the default deployment', async () => {
    const response = await client.responses.create({ model: 'gpt-4.1', input: 'This is a test.' });
    expect(response.id).toMatch(/^resp_/);
    expect(response.status).toBe('completed');
    expect(response.output_text).toContain('This is a test.');
    const retrieved = await client.responses.retrieve(response.id);
    expect(retrieved.id).toBe(response.id);
    expect(retrieved.output_text).toBe(response.output_text);
  });

  it('uses the configured chat deployment when the request names no model', async () => {
    const response = await client.responses.create({ input: 'no model given' } as never);
    expect(response.model).toContain('gpt-4.1');
  });

  it('carries earlier turns with previous_response_id', async () => {
    const first = await client.responses.create({
      model: 'gpt-4.1',
      input: 'Define and explain the concept of catastrophic forgetting?',
    });
    const second = await client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      input: [
        { role: 'user', content: 'Explain this at a level that could be understood by a college freshman' },
      ],
    });
    expect(second.previous_response_id).toBe(first.id);
    expect(second.output_text).toContain('college freshman');
    expect(second.output_text).toContain('catastrophic forgetting');
  });

  it('chains manually with output items as input', async () => {
    const inputs: OpenAI.Responses.ResponseInput = [
      {
        type: 'message',
        role: 'user',
        content: 'Define and explain the concept of catastrophic forgetting?',
      },
    ];
    const first = await client.responses.create({ model: 'gpt-4.1', input: inputs });
    inputs.push(...(first.output as OpenAI.Responses.ResponseInputItem[]));
    inputs.push({
      role: 'user',
      type: 'message',
      content: 'Explain this at a level that could be understood by a college freshman',
    });
    const second = await client.responses.create({ model: 'gpt-4.1', input: inputs });
    expect(second.output_text).toContain('college freshman');
    expect(second.output_text).toContain('catastrophic forgetting');
  });

  it('lists input items with pagination', async () => {
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'one' },
        { role: 'user', content: 'two' },
        { role: 'user', content: 'three' },
      ],
    });
    const firstPage = await client.responses.inputItems.list(response.id, { limit: 2, order: 'asc' });
    expect(firstPage.data).toHaveLength(2);
    expect(firstPage.has_more).toBe(true);
    const rest = await client.responses.inputItems.list(response.id, {
      limit: 2,
      order: 'asc',
      after: firstPage.data[1]!.id,
    });
    expect(rest.data).toHaveLength(1);
    expect(JSON.stringify(rest.data[0])).toContain('three');
  });
});

describe('compaction', () => {
  it('compacts input items and continues from the compacted output', async () => {
    const compacted = await client.responses.compact({
      model: 'gpt-4.1',
      input: [
        { role: 'user', content: 'Create a simple landing page for a dog petting café.' },
        {
          id: 'msg_001',
          type: 'message',
          status: 'completed',
          role: 'assistant',
          content: [
            { type: 'output_text', annotations: [], logprobs: [], text: 'Below is a landing page...' },
          ],
        },
      ],
    });
    expect(compacted.output.some((item) => item.type === 'compaction')).toBe(true);
    const next = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        ...(compacted.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: 'Add opening hours.' },
      ],
    });
    expect(next.output_text).toContain('Add opening hours.');
  });

  it('compacts by previous_response_id', async () => {
    const initial = await client.responses.create({ model: 'gpt-4.1', input: 'What is the size of France?' });
    const compacted = await client.responses.compact({ model: 'gpt-4.1', previous_response_id: initial.id });
    expect(compacted.output.some((item) => item.type === 'compaction')).toBe(true);
    const follow = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        ...(compacted.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: 'What is the capital?' },
      ],
    });
    expect(follow.output_text).toContain('What is the capital?');
  });

  it('compacts server-side with context_management', async () => {
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: [{ type: 'message', role: 'user', content: "Let's begin a long coding task." }],
      store: false,
      context_management: [{ type: 'compaction', compact_threshold: 1 }],
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(response.output.some((item) => item.type === 'compaction')).toBe(true);
  });
});

describe('streaming', () => {
  it('relays every event in order with sequence numbers from 0 and no gaps', async () => {
    const stream = await client.responses.create({
      model: 'gpt-4.1',
      input: 'This is a streaming test.',
      stream: true,
    });
    const events: ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events[0]!.type).toBe('response.created');
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => (e as { delta: string }).delta)
      .join('');
    expect(text).toContain('This is a streaming test.');
    // The streamed response is the caller's: retrievable afterwards.
    const id = (events[0] as { response: Response }).response.id;
    expect((await client.responses.retrieve(id)).status).toBe('completed');
  });

  it('sends raw server-sent events without a [DONE] sentinel', async () => {
    const { key } = await stack.newCaller('raw');
    const res = await fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: 'raw stream', stream: true }),
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const body = await res.text();
    expect(body.startsWith('event: response.created\ndata: {')).toBe(true);
    expect(body).not.toContain('[DONE]');
  });
});

describe('tools', () => {
  it('round-trips a function call', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      {
        type: 'function',
        name: 'get_weather',
        description: 'Get the weather for a location',
        parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
        strict: null,
      },
    ];
    const first = await client.responses.create({
      model: 'gpt-4.1',
      tools,
      input: [{ role: 'user', content: "What's the weather in San Francisco?" }],
    });
    const call = first.output.find((item) => item.type === 'function_call');
    expect(call?.name).toBe('get_weather');
    const second = await client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      tools,
      input: [
        { type: 'function_call_output', call_id: call!.call_id, output: '{"temperature": "70 degrees"}' },
      ],
    });
    expect(second.output_text).toContain('70 degrees');
  });

  it('runs the code interpreter with an auto container and an uploaded file', async () => {
    const file = await client.files.create({
      file: await toFile(await pdfWith('numbers 1 2 3'), 'data.pdf'),
      purpose: 'assistants',
    });
    const response = await client.responses.create({
      model: 'gpt-4.1',
      tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [file.id] } }],
      instructions:
        'You are a personal math tutor. When asked a math question, write and run code using the python tool to answer the question.',
      input: 'I need to solve the equation 3x + 11 = 14. Can you help me?',
    });
    const call = response.output.find((item) => item.type === 'code_interpreter_call');
    expect(call?.container_id).toBeTruthy();
  });

  it('takes image input by URL and by base64 data URI', async () => {
    for (const image_url of ['https://example.com/cat.png', `data:image/png;base64,${PNG_1x1}`]) {
      const response = await client.responses.create({
        model: 'gpt-4.1',
        input: [
          {
            role: 'user',
            content: [
              { type: 'input_text', text: 'what is in this image?' },
              { type: 'input_image', image_url, detail: 'auto' },
            ],
          },
        ],
      });
      expect(response.status).toBe('completed');
      expect(response.output_text).toContain('what is in this image?');
    }
  });

  it('summarizes a PDF sent inline as base64 file_data', async () => {
    const pdf = await pdfWith('The quarterly revenue grew by seventeen percent.');
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        {
          role: 'user',
          content: [
            {
              type: 'input_file',
              filename: 'report.pdf',
              file_data: `data:application/pdf;base64,${pdf.toString('base64')}`,
            },
            { type: 'input_text', text: 'Summarize this PDF' },
          ],
        },
      ],
    });
    expect(response.output_text).toContain('seventeen percent');
  });

  it('summarizes a PDF uploaded through the Files API with purpose assistants', async () => {
    const file = await client.files.create({
      file: await toFile(await pdfWith('Penguins live in the southern hemisphere.'), 'penguins.pdf'),
      purpose: 'assistants',
    });
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_file', file_id: file.id },
            { type: 'input_text', text: 'Summarize this PDF' },
          ],
        },
      ],
    });
    expect(response.output_text).toContain('southern hemisphere');
    await client.files.delete(file.id);
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('calls a remote MCP tool after an approval, sending its headers upstream', async () => {
    const tools: OpenAI.Responses.Tool[] = [
      {
        type: 'mcp',
        server_label: 'github',
        server_url: 'https://contoso.com/Azure/azure-rest-api-specs',
        headers: { Authorization: 'Bearer token' },
        require_approval: 'always',
      },
    ];
    const first = await client.responses.create({
      model: 'gpt-4.1',
      tools,
      input: 'What transport protocols are supported in the 2025-03-26 version of the MCP spec?',
    });
    const request = first.output.find((item) => item.type === 'mcp_approval_request');
    expect(request).toBeTruthy();
    const second = await client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: first.id,
      tools,
      input: [{ type: 'mcp_approval_response', approve: true, approval_request_id: request!.id }],
    });
    expect(second.output.some((item) => item.type === 'mcp_call')).toBe(true);
  });

  it('calls an MCP tool directly when approval is never required', async () => {
    const response = await client.responses.create({
      model: 'gpt-4.1',
      tools: [
        {
          type: 'mcp',
          server_label: 'github',
          server_url: 'https://contoso.com/mcp',
          require_approval: 'never',
        },
      ],
      input: 'What is this repo in 100 words?',
    });
    expect(response.output.some((item) => item.type === 'mcp_call')).toBe(true);
  });

  it('returns encrypted reasoning with store false and accepts it back', async () => {
    const first = await client.responses.create({
      model: 'o4-mini',
      reasoning: { effort: 'medium' },
      input: 'What is the weather like today?',
      include: ['reasoning.encrypted_content'],
      store: false,
    });
    const reasoning = first.output.find((item) => item.type === 'reasoning');
    expect(reasoning?.encrypted_content).toBeTruthy();
    const second = await client.responses.create({
      model: 'o4-mini',
      input: [
        ...(first.output as OpenAI.Responses.ResponseInputItem[]),
        { role: 'user', content: 'And tomorrow?' },
      ],
      include: ['reasoning.encrypted_content'],
      store: false,
    });
    expect(second.status).toBe('completed');
  });

  it('generates an image with the configured image deployment and serves it from blob storage', async () => {
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: 'Generate an image of gray tabby cat hugging an otter with an orange scarf',
      tools: [{ type: 'image_generation' }],
    });
    const call = response.output.find((item) => item.type === 'image_generation_call');
    expect(call?.result).toBeTruthy();
    const res = await fetch(`${stack.baseURL}/responses/${response.id}/images/${call!.id}`, {
      headers: { authorization: `Bearer ${client.apiKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(bytes.equals(Buffer.from(call!.result!, 'base64'))).toBe(true);
  });
});

describe('background responses', () => {
  it('starts in the background, is polled to completion, and answers input token counts', async () => {
    const response = await client.responses.create({
      model: 'o4-mini',
      input: 'Write me a very long story',
      background: true,
    });
    expect(['queued', 'in_progress']).toContain(response.status);
    const done = await until('completion', async () => {
      const r = await client.responses.retrieve(response.id);
      return r.status === 'completed' ? r : undefined;
    });
    expect(done.output_text).toContain('Write me a very long story');
    const count = await client.responses.inputTokens.count({ model: 'gpt-4.1', input: 'Tell me a joke.' });
    expect(count.input_tokens).toBeGreaterThan(0);
  });

  it('cancels a background response', async () => {
    const response = await client.responses.create({
      model: 'o4-mini',
      input: 'Write me a very long story',
      background: true,
      metadata: { emulator_duration_ms: '20000' },
    });
    const cancelled = await client.responses.cancel(response.id);
    expect(cancelled.status).toBe('cancelled');
    expect((await client.responses.cancel(response.id)).status).toBe('cancelled');
  });

  it('streams a background response and resumes from a sequence number', async () => {
    const stream = await client.responses.create({
      model: 'o4-mini',
      input: 'Write me a very long story',
      background: true,
      stream: true,
    });
    let id = '';
    let cursor = -1;
    for await (const event of stream) {
      if (event.type === 'response.created') id = event.response.id;
      cursor = event.sequence_number;
      if (cursor >= 3) break; // the connection drops here
    }
    const resumed = await client.responses.retrieve(id, { stream: true, starting_after: cursor });
    const later: ResponseStreamEvent[] = [];
    for await (const event of resumed) later.push(event);
    expect(later[0]!.sequence_number).toBe(cursor + 1);
    expect(later.map((e) => e.sequence_number)).toEqual(later.map((_, i) => cursor + 1 + i));
    expect(later.at(-1)!.type).toBe('response.completed');
  });

  it('deletes a response so later reads are 404', async () => {
    const response = await client.responses.create({ model: 'gpt-4.1', input: 'to be deleted' });
    const deleted = await client.responses.delete(response.id);
    expect(deleted).toMatchObject({ id: response.id, deleted: true });
    await expect(client.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });
  });
});

describe('a caller hanging up', () => {
  it('aborts the upstream request of a non-background stream', async () => {
    const { key } = await stack.newCaller('hangup');
    const before = await stack.emulatorStats();
    const controller = new AbortController();
    const res = await fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4.1',
        input: 'a long answer',
        stream: true,
        metadata: { emulator_duration_ms: '20000' },
      }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first event arrived: the upstream stream is open
    controller.abort();
    await until('the upstream stream to be closed', async () => {
      const after = await stack.emulatorStats();
      return after.streamDisconnects > before.streamDisconnects ? true : undefined;
    });
  });
});
