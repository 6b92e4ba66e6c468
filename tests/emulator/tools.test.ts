import OpenAI from 'openai';
import type { ResponseInputItem, Tool } from 'openai/resources/responses/responses';
import { PNG } from 'pngjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, expectSchemaClean, type Harness } from './support';

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

const weatherTool: Tool = {
  type: 'function',
  name: 'get_weather',
  description: 'Get weather for a location',
  strict: false,
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};

describe('function calling', () => {
  it('calls a declared function with arguments taken from the question, then answers with its output', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [weatherTool],
      input: 'What is the weather in San Francisco?',
    });
    const call = response.output.find((i) => i.type === 'function_call');
    expect(call?.type).toBe('function_call');
    if (call?.type !== 'function_call') return;
    expect(call.id).toMatch(/^fc_/);
    expect(call.name).toBe('get_weather');
    expect(JSON.parse(call.arguments)).toEqual({ location: 'San Francisco' });
    expect(response.output_text).toBe('');

    const final = await h.client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: response.id,
      tools: [weatherTool],
      input: [
        {
          type: 'function_call_output',
          call_id: call.call_id,
          output: JSON.stringify({ location: 'San Francisco', temperature: '70 F' }),
        },
      ],
    });
    expect(final.output_text).toBe(
      'The function get_weather returned: {"location":"San Francisco","temperature":"70 F"}',
    );
  });

  it('refuses a function output whose call it never made', async () => {
    const error = await h.client.responses
      .create({
        model: 'gpt-4.1',
        input: [{ type: 'function_call_output', call_id: 'call_unknown', output: '{}' }],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('call_unknown');
  });

  it('answers in text when tool_choice is none', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [weatherTool],
      tool_choice: 'none',
      input: 'Just talk.',
    });
    expect(response.output.map((i) => i.type)).toEqual(['message']);
  });
});

describe('code interpreter', () => {
  it('runs code in a container and reports what it printed', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
      instructions: 'You are a math tutor. Write and run Python code to solve math problems.',
      input: 'Solve 3x + 11 = 14.',
      include: ['code_interpreter_call.outputs'],
    });
    const call = response.output.find((i) => i.type === 'code_interpreter_call');
    if (call?.type !== 'code_interpreter_call') throw new Error('no code_interpreter_call');
    expect(call.id).toMatch(/^ci_/);
    expect(call.container_id).toMatch(/^cntr_/);
    expect(call.code).toContain('Solve 3x + 11 = 14.');
    expect(call.outputs).toEqual([{ type: 'logs', logs: '19 characters, 6 words\nx = 1' }]);
    expect(response.output_text).toContain('x = 1');
    expect(response.output_text).toContain(`container ${call.container_id}`);

    const followUp = await h.client.responses.create({
      model: 'gpt-4.1',
      previous_response_id: response.id,
      tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
      input: 'Now check it.',
    });
    const again = followUp.output.find((i) => i.type === 'code_interpreter_call');
    expect(again?.type === 'code_interpreter_call' && again.container_id).toBe(call.container_id);
    expect(again?.type === 'code_interpreter_call' && again.outputs).toBeNull();
  });

  it('shows code outputs on retrieve only when include asks for them', async () => {
    const created = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
      input: 'Solve 2x + 1 = 5.',
    });
    const codeOf = (r: typeof created) => r.output.find((i) => i.type === 'code_interpreter_call');
    expect(codeOf(created)).toMatchObject({ outputs: null });
    expect(codeOf(await h.client.responses.retrieve(created.id))).toMatchObject({ outputs: null });
    const withOutputs = await h.client.responses.retrieve(created.id, {
      include: ['code_interpreter_call.outputs'],
    });
    expect(codeOf(withOutputs)).toMatchObject({
      outputs: [{ type: 'logs', logs: expect.stringContaining('x = 2') as string }],
    });
  });

  it('puts uploaded files in the container and refuses unknown ones', async () => {
    const file = await h.client.files.create({
      file: new File(['a,b\n1,2\n'], 'data.csv', { type: 'text/csv' }),
      purpose: 'assistants',
    });
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [file.id] } }],
      input: 'Plot the data.',
    });
    expect(response.output_text).toContain('with 1 file (data.csv)');
    await expect(
      h.client.responses.create({
        model: 'gpt-4.1',
        tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: ['file-missing'] } }],
        input: 'Plot.',
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});

describe('remote MCP', () => {
  const mcpTool = (requireApproval?: 'never' | 'always'): Tool => ({
    type: 'mcp',
    server_label: 'github',
    server_url: 'https://contoso.invalid/Azure/azure-rest-api-specs',
    headers: { Authorization: 'Bearer secret-mcp-token' },
    ...(requireApproval ? { require_approval: requireApproval } : {}),
  });

  it('lists tools and asks for approval, then calls the tool once approved', async () => {
    const first = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [mcpTool()],
      input: 'What is this repo in 100 words?',
    });
    expect(first.output.map((i) => i.type)).toEqual(['mcp_list_tools', 'mcp_approval_request']);
    const request = first.output[1];
    if (request?.type !== 'mcp_approval_request') throw new Error('no approval request');
    expect(request.id).toMatch(/^mcpr_/);
    expect(JSON.parse(request.arguments)).toEqual({ query: 'What is this repo in 100 words?' });
    expect(JSON.stringify(first)).not.toContain('secret-mcp-token');

    const second = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [mcpTool('never')],
      previous_response_id: first.id,
      input: [{ type: 'mcp_approval_response', approve: true, approval_request_id: request.id }],
    });
    const call = second.output.find((i) => i.type === 'mcp_call');
    if (call?.type !== 'mcp_call') throw new Error('no mcp_call');
    expect(call.id).toMatch(/^mcp_/);
    expect(call.approval_request_id).toBe(request.id);
    expect(call.output).toContain('The request carried 1 custom header (values withheld).');
    expect(second.output_text).toContain('The MCP server github answered');
    expect(JSON.stringify(second)).not.toContain('secret-mcp-token');
  });

  it('calls the tool directly when require_approval is never', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [mcpTool('never')],
      input: 'Which transports does MCP support?',
    });
    expect(response.output.map((i) => i.type)).toEqual(['mcp_list_tools', 'mcp_call', 'message']);
  });

  it('does not call the tool when approval is denied', async () => {
    const first = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [mcpTool()],
      input: 'Read the repo.',
    });
    const request = first.output.find((i) => i.type === 'mcp_approval_request')!;
    const second = await h.client.responses.create({
      model: 'gpt-4.1',
      tools: [mcpTool()],
      previous_response_id: first.id,
      input: [
        {
          type: 'mcp_approval_response',
          approve: false,
          approval_request_id: (request as { id: string }).id,
        },
      ],
    });
    expect(second.output.some((i) => i.type === 'mcp_call')).toBe(false);
    expect(second.output_text).toContain('was not approved');
  });
});

describe('reasoning deployments', () => {
  it('returns reasoning items, encrypted when asked, and accepts them back in a stateless conversation', async () => {
    const first = await h.client.responses.create({
      model: 'o4-mini',
      reasoning: { effort: 'medium', summary: 'auto' },
      input: 'What is the weather like today?',
      include: ['reasoning.encrypted_content'],
      store: false,
    });
    const reasoning = first.output[0];
    if (reasoning?.type !== 'reasoning') throw new Error('no reasoning item');
    expect(reasoning.id).toMatch(/^rs_/);
    expect(reasoning.encrypted_content).toMatch(/^gAAAAA/);
    expect(reasoning.summary[0]?.text).toContain('What is the weather like today?');
    expect(first.usage?.output_tokens_details.reasoning_tokens).toBeGreaterThan(0);

    const second = await h.client.responses.create({
      model: 'o4-mini',
      input: [
        { role: 'user', content: 'What is the weather like today?' },
        ...(first.output as ResponseInputItem[]),
        { role: 'user', content: 'And tomorrow?' },
      ],
      include: ['reasoning.encrypted_content'],
      store: false,
    });
    expect(second.output_text).toContain('I carried forward 1 encrypted reasoning item.');
  });

  it('leaves encrypted_content out when include does not ask for it, and refuses forged content', async () => {
    const plain = await h.client.responses.create({ model: 'o4-mini', input: 'Think.' });
    const reasoning = plain.output.find((i) => i.type === 'reasoning');
    expect(reasoning?.type === 'reasoning' && reasoning.encrypted_content).toBeFalsy();

    const error = await h.client.responses
      .create({
        model: 'o4-mini',
        store: false,
        input: [
          { type: 'reasoning', id: 'rs_x', summary: [], encrypted_content: 'gAAAAAbogus' },
          { role: 'user', content: 'hi' },
        ],
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('gives chat deployments no reasoning items', async () => {
    const response = await h.client.responses.create({ model: 'gpt-4.1', input: 'Think.' });
    expect(response.output.some((i) => i.type === 'reasoning')).toBe(false);
  });
});

describe('image generation', () => {
  it('returns a real PNG when the image deployment header names a known deployment', async () => {
    const client = h.clientWith({
      defaultHeaders: { 'x-ms-oai-image-generation-deployment': 'gpt-image-1' },
    });
    const response = await client.responses.create({
      model: 'gpt-4.1',
      input: 'Generate an image of a gray tabby cat hugging an otter with an orange scarf.',
      tools: [{ type: 'image_generation' }],
    });
    const call = response.output.find((i) => i.type === 'image_generation_call');
    if (call?.type !== 'image_generation_call' || !call.result) throw new Error('no image');
    expect(call.id).toMatch(/^ig_/);
    const png = Buffer.from(call.result, 'base64');
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const decoded = PNG.sync.read(png);
    expect(decoded.width).toBeGreaterThan(0);
  });

  it('refuses the image tool without the deployment header, with an unknown deployment, or with streaming', async () => {
    const noHeader = await h.client.responses
      .create({ model: 'gpt-4.1', input: 'Draw.', tools: [{ type: 'image_generation' }] })
      .catch((e: unknown) => e);
    expect(noHeader).toBeInstanceOf(OpenAI.BadRequestError);
    expect((noHeader as Error).message).toContain('x-ms-oai-image-generation-deployment');

    const unknown = h.clientWith({ defaultHeaders: { 'x-ms-oai-image-generation-deployment': 'dall-e-9' } });
    await expect(
      unknown.responses.create({ model: 'gpt-4.1', input: 'Draw.', tools: [{ type: 'image_generation' }] }),
    ).rejects.toThrow(/dall-e-9/);

    const known = h.clientWith({ defaultHeaders: { 'x-ms-oai-image-generation-deployment': 'gpt-image-1' } });
    const streamed = await known.responses
      .create({ model: 'gpt-4.1', input: 'Draw.', tools: [{ type: 'image_generation' }], stream: true })
      .catch((e: unknown) => e);
    expect(streamed).toBeInstanceOf(OpenAI.BadRequestError);
    expect((streamed as Error).message).toMatch(/does not support streaming/);
  });
});
