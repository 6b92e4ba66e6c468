import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configureIdSealing,
  generateIdSealingKeyEntry,
  openId,
  resetIdSealingForTests,
  sealId,
} from '../../shared/platform/sealed-ids';
import {
  ID_FIELDS,
  IdRefusal,
  openRequestIds,
  parseSharedIds,
  sealResponseIds,
  type IdFieldOptions,
} from '../../shared/responses/id-fields';

/** Loosely typed JSON, the way a caller reads a body. */
type Loose = ReturnType<typeof JSON.parse>;

const A = 'key:alpha';
const B = 'key:beta';
const hex = () => randomBytes(24).toString('hex');
const up = (prefix: string) => `${prefix}_${hex()}`;

beforeAll(() => configureIdSealing(generateIdSealingKeyEntry('k1')));
afterAll(() => resetIdSealingForTests());

/** The refusal `body` gets, or undefined when it goes through. */
function refusal(callerId: string, body: object, options?: IdFieldOptions): IdRefusal | undefined {
  try {
    openRequestIds(callerId, body, options);
    return undefined;
  } catch (e) {
    if (e instanceof IdRefusal) return e;
    throw e;
  }
}

/** What a caller would see, minus the id it sent (which the message echoes). */
const answer = (e: IdRefusal | undefined, id: string) =>
  e && {
    status: e.status,
    type: e.type,
    code: e.code,
    param: e.param,
    message: e.message.replace(id, '<id>'),
  };

/**
 * Every place a request carries an id of state the caller created through the service, as a body builder. `at`
 * is the param named when that id is refused.
 */
const SEALED_FIELDS: {
  what: string;
  upstream: string;
  body: (id: string) => Record<string, unknown>;
  at: string;
  code: string;
}[] = [
  {
    what: 'previous_response_id',
    upstream: up('resp'),
    body: (id) => ({ model: 'chat', previous_response_id: id, input: 'next' }),
    at: 'previous_response_id',
    code: 'previous_response_not_found',
  },
  {
    what: 'an item_reference',
    upstream: up('msg'),
    body: (id) => ({
      input: [
        { role: 'user', content: 'hi' },
        { type: 'item_reference', id },
      ],
    }),
    at: 'input[1].id',
    code: 'item_not_found',
  },
  {
    what: 'an item reference without a type',
    upstream: up('msg'),
    body: (id) => ({ input: [{ id }] }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'an output message passed back',
    upstream: up('msg'),
    body: (id) => ({
      input: [
        {
          type: 'message',
          role: 'assistant',
          id,
          status: 'completed',
          content: [{ type: 'output_text', text: 'x', annotations: [] }],
        },
      ],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'a reasoning item passed back (store: false)',
    upstream: up('rs'),
    body: (id) => ({
      store: false,
      include: ['reasoning.encrypted_content'],
      input: [{ type: 'reasoning', id, summary: [], encrypted_content: 'gAAAAAB-opaque' }],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'a function call passed back',
    upstream: up('fc'),
    body: (id) => ({
      input: [
        { type: 'function_call', id, call_id: 'call_1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: '42' },
      ],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'an MCP approval request passed back',
    upstream: up('mcpr'),
    body: (id) => ({
      input: [{ type: 'mcp_approval_request', id, server_label: 's', name: 't', arguments: '{}' }],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'an MCP approval response',
    upstream: up('mcpr'),
    body: (id) => ({ input: [{ type: 'mcp_approval_response', approval_request_id: id, approve: true }] }),
    at: 'input[0].approval_request_id',
    code: 'item_not_found',
  },
  {
    what: 'an MCP call passed back',
    upstream: up('mcp'),
    body: (id) => ({
      input: [{ type: 'mcp_call', id, server_label: 's', name: 't', arguments: '{}', output: 'ok' }],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'a computer call passed back',
    upstream: up('cu'),
    body: (id) => ({
      input: [
        {
          type: 'computer_call',
          id,
          call_id: 'call_2',
          action: { type: 'screenshot' },
          pending_safety_checks: [],
          status: 'completed',
        },
      ],
    }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'a compaction item passed back',
    upstream: up('cmp'),
    body: (id) => ({ input: [{ type: 'compaction', id, encrypted_content: 'gAAAAAB-opaque' }] }),
    at: 'input[0].id',
    code: 'item_not_found',
  },
  {
    what: 'a code interpreter container given as an id',
    upstream: up('cntr'),
    body: (id) => ({
      tools: [
        { type: 'function', name: 'f', parameters: {} },
        { type: 'code_interpreter', container: id },
      ],
    }),
    at: 'tools[1].container',
    code: 'container_not_found',
  },
  {
    what: 'a container reference in a shell environment',
    upstream: up('cntr'),
    body: (id) => ({
      tools: [{ type: 'shell', environment: { type: 'container_reference', container_id: id } }],
    }),
    at: 'tools[0].environment.container_id',
    code: 'container_not_found',
  },
  {
    what: 'a code interpreter call passed back',
    upstream: up('cntr'),
    body: (id) => ({
      input: [
        { type: 'code_interpreter_call', id: sealId(A, up('ci')), container_id: id, code: '1', outputs: [] },
      ],
    }),
    at: 'input[0].container_id',
    code: 'container_not_found',
  },
  {
    what: 'an input_file',
    upstream: `assistant-${hex()}`,
    body: (id) => ({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: id }] }] }),
    at: 'input[0].content[0].file_id',
    code: 'file_not_found',
  },
  {
    what: 'an input_image',
    upstream: `file-${hex()}`,
    body: (id) => ({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'x' },
            { type: 'input_image', file_id: id },
          ],
        },
      ],
    }),
    at: 'input[0].content[1].file_id',
    code: 'file_not_found',
  },
  {
    what: 'a file in a function call output',
    upstream: `file-${hex()}`,
    body: (id) => ({
      input: [{ type: 'function_call_output', call_id: 'c', output: [{ type: 'input_file', file_id: id }] }],
    }),
    at: 'input[0].output[0].file_id',
    code: 'file_not_found',
  },
  {
    what: 'a computer screenshot',
    upstream: `file-${hex()}`,
    body: (id) => ({
      input: [
        {
          type: 'computer_call_output',
          call_id: 'call_2',
          output: { type: 'computer_screenshot', file_id: id },
          acknowledged_safety_checks: [{ id: 'cu_sc_1', code: 'malicious_instructions' }],
        },
      ],
    }),
    at: 'input[0].output.file_id',
    code: 'file_not_found',
  },
  {
    what: 'code interpreter files',
    upstream: `file-${hex()}`,
    body: (id) => ({
      tools: [
        { type: 'code_interpreter', container: { type: 'auto', file_ids: [sealId(A, `file-${hex()}`), id] } },
      ],
    }),
    at: 'tools[0].container.file_ids[1]',
    code: 'file_not_found',
  },
  {
    what: 'container_auto files in a shell environment',
    upstream: `file-${hex()}`,
    body: (id) => ({ tools: [{ type: 'shell', environment: { type: 'container_auto', file_ids: [id] } }] }),
    at: 'tools[0].environment.file_ids[0]',
    code: 'file_not_found',
  },
  {
    what: 'an image generation mask',
    upstream: `file-${hex()}`,
    body: (id) => ({ tools: [{ type: 'image_generation', input_image_mask: { file_id: id } }] }),
    at: 'tools[0].input_image_mask.file_id',
    code: 'file_not_found',
  },
  {
    what: 'a file in a prompt variable',
    upstream: `file-${hex()}`,
    body: (id) => ({
      prompt: { id: 'pmpt_shared', variables: { doc: { type: 'input_file', file_id: id } } },
    }),
    at: 'prompt.variables.doc.file_id',
    code: 'file_not_found',
  },
  {
    what: 'a citation in an output message passed back',
    upstream: `cfile_${hex()}`,
    body: (id) => ({
      input: [
        {
          type: 'message',
          role: 'assistant',
          content: [
            {
              type: 'output_text',
              text: 'see file',
              annotations: [
                {
                  type: 'container_file_citation',
                  container_id: sealId(A, up('cntr')),
                  file_id: id,
                  start_index: 0,
                  end_index: 1,
                  filename: 'a.csv',
                },
              ],
            },
          ],
        },
      ],
    }),
    at: 'input[0].content[0].annotations[0].file_id',
    code: 'file_not_found',
  },
];

const shared: IdFieldOptions = { shared: { prompt: new Set(['pmpt_shared']) } };

describe('ids in a request', () => {
  it.each(SEALED_FIELDS)("$what: the owner's id opens to the upstream id", ({ upstream, body, at }) => {
    const request = body(sealId(A, upstream));
    expect(openRequestIds(A, request, shared)).toBe(request);
    expect(valueAt(request, at)).toBe(upstream);
  });

  it.each(SEALED_FIELDS)(
    "$what: another caller's id is refused exactly like an unknown id",
    ({ upstream, body, at, code }) => {
      const foreign = sealId(B, upstream);
      const fromB = refusal(A, body(foreign), shared);
      expect(fromB).toBeInstanceOf(IdRefusal);
      expect(fromB).toMatchObject({ reason: 'not_found', status: 400, code, param: at });
      expect(fromB!.message).toContain(foreign);

      // A made-up id, the raw upstream id, and a tampered copy of the owner's get the same answer.
      const madeUp = sealId(B, `${upstream.slice(0, -4)}beef`);
      const own = sealId(A, upstream);
      const tampered = own.slice(0, -3) + (own.endsWith('AAA') ? 'BBB' : 'AAA');
      for (const other of [madeUp, upstream, tampered]) {
        expect(answer(refusal(A, body(other), shared), other)).toEqual(answer(fromB, foreign));
      }
    },
  );

  it('answers a foreign previous_response_id as upstream answers an unknown one', () => {
    const id = sealId(B, up('resp'));
    expect(refusal(A, { previous_response_id: id })).toMatchObject({
      status: 400,
      type: 'invalid_request_error',
      code: 'previous_response_not_found',
      param: 'previous_response_id',
      message: `Previous response with id '${id}' not found.`,
    });
  });

  it('opens every id of a manually chained turn and leaves call ids and encrypted content alone', () => {
    const ids = { rs: up('rs'), fc: up('fc'), msg: up('msg'), file: `file-${hex()}`, cntr: up('cntr') };
    const s = (id: string) => sealId(A, id);
    const body = {
      model: 'chat',
      store: false,
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'q' },
            { type: 'input_file', file_id: s(ids.file) },
          ],
        },
        { type: 'reasoning', id: s(ids.rs), summary: [], encrypted_content: 'gAAAAAB-keep' },
        {
          type: 'function_call',
          id: s(ids.fc),
          call_id: 'call_abc',
          name: 'lookup',
          arguments: '{"order_id":"1"}',
        },
        { type: 'function_call_output', call_id: 'call_abc', output: '{"ok":true}' },
        {
          type: 'message',
          role: 'assistant',
          id: s(ids.msg),
          content: [{ type: 'output_text', text: 'a', annotations: [] }],
        },
      ],
      tools: [
        {
          type: 'function',
          name: 'lookup',
          parameters: {
            type: 'object',
            properties: { order_id: { type: 'string' } },
            required: ['order_id'],
          },
        },
        { type: 'code_interpreter', container: s(ids.cntr) },
      ],
      metadata: { ticket_id: 'T-1' },
      text: { format: { type: 'json_schema', name: 'r', schema: { properties: { user_id: {} } } } },
    };
    openRequestIds(A, body);
    expect(body.input[1]).toEqual({
      type: 'reasoning',
      id: ids.rs,
      summary: [],
      encrypted_content: 'gAAAAAB-keep',
    });
    expect(body.input[2]).toMatchObject({ id: ids.fc, call_id: 'call_abc', arguments: '{"order_id":"1"}' });
    expect(body.input[3]).toEqual({
      type: 'function_call_output',
      call_id: 'call_abc',
      output: '{"ok":true}',
    });
    expect(body.input[4]).toMatchObject({ id: ids.msg });
    expect((body.input[0] as { content: unknown[] }).content[1]).toEqual({
      type: 'input_file',
      file_id: ids.file,
    });
    expect(body.tools[1]).toEqual({ type: 'code_interpreter', container: ids.cntr });
    expect(body.metadata).toEqual({ ticket_id: 'T-1' });
  });

  it('leaves tool call ids, safety check ids and connector names as sent', () => {
    const body = {
      input: [
        {
          type: 'computer_call',
          id: sealId(A, up('cu')),
          call_id: 'call_9',
          action: { type: 'click', x: 1, y: 2, button: 'left' },
          pending_safety_checks: [{ id: 'cu_sc_123', code: 'c', message: 'm' }],
        },
        {
          type: 'computer_call_output',
          call_id: 'call_9',
          output: { type: 'computer_screenshot', image_url: 'data:image/png;base64,AAAA' },
          acknowledged_safety_checks: [{ id: 'cu_sc_123' }],
        },
        {
          type: 'custom_tool_call',
          id: sealId(A, up('ctc')),
          call_id: 'call_x',
          name: 'g',
          input: 'x',
          caller: { type: 'program', caller_id: 'call_p' },
        },
      ],
      tools: [{ type: 'mcp', server_label: 'mail', connector_id: 'connector_gmail', authorization: 'token' }],
    };
    openRequestIds(A, body);
    expect(body.input[0]).toMatchObject({ call_id: 'call_9', pending_safety_checks: [{ id: 'cu_sc_123' }] });
    expect(body.input[1]).toMatchObject({ acknowledged_safety_checks: [{ id: 'cu_sc_123' }] });
    expect(body.input[2]).toMatchObject({ call_id: 'call_x', caller: { caller_id: 'call_p' } });
    expect(body.tools[0]).toMatchObject({ connector_id: 'connector_gmail' });
  });

  it('opens compact and input_tokens bodies the same way', () => {
    const prev = up('resp');
    const item = up('msg');
    const compact = {
      model: 'chat',
      previous_response_id: sealId(A, prev),
      input: [{ type: 'item_reference', id: sealId(A, item) }],
    };
    openRequestIds(A, compact);
    expect(compact).toMatchObject({ previous_response_id: prev, input: [{ id: item }] });
  });

  it('lets the service resolve its own document references in input messages', () => {
    const isServiceFileRef = (id: string) => id.startsWith('documents/');
    const body = () => ({
      input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'documents/report.pdf' }] }],
    });
    const kept = body();
    openRequestIds(A, kept, { isServiceFileRef });
    expect(kept.input[0]!.content[0]!.file_id).toBe('documents/report.pdf');
    // Without the hook, or anywhere the service does not resolve them, such a reference is an unknown file.
    expect(refusal(A, body())).toMatchObject({
      code: 'file_not_found',
      param: 'input[0].content[0].file_id',
    });
    expect(
      refusal(
        A,
        { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'documents/x.png' }] }] },
        { isServiceFileRef },
      ),
    ).toMatchObject({ code: 'file_not_found' });
    expect(
      refusal(
        A,
        { tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: ['documents/x.pdf'] } }] },
        { isServiceFileRef },
      ),
    ).toMatchObject({ code: 'file_not_found', param: 'tools[0].container.file_ids[0]' });
  });
});

describe('ids the service cannot vouch for', () => {
  const cases: {
    what: string;
    kind: 'vector_store' | 'conversation' | 'prompt' | 'skill' | 'mcp_tunnel';
    id: string;
    body: (id: string) => object;
    at: string;
    setting: string;
  }[] = [
    {
      what: 'a vector store',
      kind: 'vector_store',
      id: 'vs_shared',
      body: (id) => ({ tools: [{ type: 'file_search', vector_store_ids: ['vs_shared_too', id] }] }),
      at: 'tools[0].vector_store_ids[1]',
      setting: 'SHARED_VECTOR_STORE_IDS',
    },
    {
      what: 'a conversation id',
      kind: 'conversation',
      id: 'conv_1',
      body: (id) => ({ conversation: id }),
      at: 'conversation',
      setting: 'SHARED_CONVERSATION_IDS',
    },
    {
      what: 'a conversation object',
      kind: 'conversation',
      id: 'conv_1',
      body: (id) => ({ conversation: { id } }),
      at: 'conversation.id',
      setting: 'SHARED_CONVERSATION_IDS',
    },
    {
      what: 'a prompt',
      kind: 'prompt',
      id: 'pmpt_1',
      body: (id) => ({ prompt: { id, version: '2', variables: { customer_id: 'C-7' } } }),
      at: 'prompt.id',
      setting: 'SHARED_PROMPT_IDS',
    },
    {
      what: 'a skill',
      kind: 'skill',
      id: 'skill_1',
      body: (id) => ({
        tools: [
          {
            type: 'shell',
            environment: { type: 'container_auto', skills: [{ type: 'skill_reference', skill_id: id }] },
          },
        ],
      }),
      at: 'tools[0].environment.skills[0].skill_id',
      setting: 'SHARED_SKILL_IDS',
    },
    {
      what: 'an MCP tunnel',
      kind: 'mcp_tunnel',
      id: 'tun_1',
      body: (id) => ({ tools: [{ type: 'mcp', server_label: 's', tunnel_id: id }] }),
      at: 'tools[0].tunnel_id',
      setting: 'SHARED_MCP_TUNNEL_IDS',
    },
  ];

  it.each(cases)(
    '$what is refused with a 400 naming the field and the setting',
    ({ id, body, at, setting, kind }) => {
      const e = refusal(
        A,
        body(id),
        kind === 'vector_store' ? { shared: { vector_store: new Set(['vs_shared_too']) } } : {},
      );
      expect(e).toMatchObject({
        reason: 'not_allowed',
        status: 400,
        code: 'id_not_allowed',
        param: at,
        kind,
      });
      expect(e!.message).toContain(`'${at}'`);
      expect(e!.message).toContain(setting);
    },
  );

  it.each(cases)('$what goes through as sent when the operator shares it', ({ id, body, kind }) => {
    const request = body(id);
    const before = JSON.stringify(request);
    openRequestIds(A, request, { shared: { [kind]: new Set([id, 'vs_shared_too']) } });
    expect(JSON.stringify(request)).toBe(before);
  });

  it('checks a prompt given as a bare string as a prompt id', () => {
    expect(refusal(A, { prompt: 'pmpt_1' })).toMatchObject({ code: 'id_not_allowed', param: 'prompt' });
    expect(refusal(A, { prompt: 'pmpt_1' }, { shared: { prompt: new Set(['pmpt_1']) } })).toBeUndefined();
  });

  it("is refused even when it is sealed for the caller (shared ids are not the caller's state)", () => {
    const e = refusal(
      A,
      { prompt: { id: sealId(A, 'pmpt_1') } },
      { shared: { prompt: new Set(['pmpt_1']) } },
    );
    expect(e).toMatchObject({ code: 'id_not_allowed', param: 'prompt.id' });
  });

  it('reads an operator list of shared ids', () => {
    expect([...parseSharedIds(' pmpt_1, pmpt_2 ,,', 'SHARED_PROMPT_IDS')]).toEqual(['pmpt_1', 'pmpt_2']);
    expect(parseSharedIds(undefined, 'SHARED_PROMPT_IDS').size).toBe(0);
    expect(() => parseSharedIds('pmpt_1,bad id', 'SHARED_PROMPT_IDS')).toThrow(
      /SHARED_PROMPT_IDS: 'bad id' is not an id/,
    );
  });
});

describe('fields that look like ids but are not in the list', () => {
  it.each([
    [{ id: 'resp_1', input: 'x' }, 'id'],
    [{ input: [{ role: 'user', content: 'x', thread_id: 'th_1' }] }, 'input[0].thread_id'],
    [
      { input: [{ role: 'user', content: [{ type: 'input_text', text: 'x', id: 'p_1' }] }] },
      'input[0].content[0].id',
    ],
    [
      { tools: [{ type: 'file_search', vector_store_ids: [], assistant_ids: ['asst_1'] }] },
      'tools[0].assistant_ids',
    ],
    [
      { tools: [{ type: 'code_interpreter', container: { type: 'auto', sessionId: 's' } }] },
      'tools[0].container.sessionId',
    ],
    [{ input: [{ type: 'item_reference', ids: ['msg_1'] }] }, 'input[0].ids'],
    [{ reasoning: { effort: 'low', cache_id: 'c' } }, 'reasoning.cache_id'],
  ])('%j is refused, naming %s', (body, at) => {
    expect(refusal(A, body)).toMatchObject({
      reason: 'unknown_field',
      status: 400,
      code: 'unknown_id_field',
      param: at,
    });
  });

  it('does not look inside free-form data (schemas, metadata, headers, variables, MCP tool annotations)', () => {
    const body = {
      metadata: { order_id: '1' },
      text: {
        format: { type: 'json_schema', name: 'x', schema: { properties: { user_id: { type: 'string' } } } },
      },
      prompt: { id: 'pmpt_1', variables: { customer_id: 'C-1' } },
      tools: [
        {
          type: 'function',
          name: 'f',
          parameters: { properties: { account_id: {} } },
          output_schema: { x_id: 1 },
        },
        { type: 'mcp', server_label: 's', server_url: 'https://mcp.example', headers: { tenant_id: 't' } },
        { type: 'local_shell' },
      ],
      input: [
        {
          type: 'mcp_list_tools',
          id: sealId(A, up('mcpl')),
          server_label: 's',
          tools: [
            { name: 't', input_schema: { properties: { doc_id: {} } }, annotations: { source_id: 'x' } },
          ],
        },
        {
          type: 'local_shell_call',
          id: sealId(A, up('lsh')),
          call_id: 'c',
          action: { type: 'exec', command: ['ls'], env: { AWS_KEY_ID: 'x', run_id: '1' } },
        },
        {
          type: 'file_search_call',
          id: sealId(A, up('fs')),
          queries: ['q'],
          results: [{ file_id: sealId(A, `file-${hex()}`), filename: 'a', attributes: { owner_id: 'o' } }],
        },
      ],
    };
    expect(refusal(A, body, { shared: { prompt: new Set(['pmpt_1']) } })).toBeUndefined();
  });

  it('lets null id fields through (they name nothing)', () => {
    expect(
      refusal(A, {
        previous_response_id: null,
        conversation: null,
        input: [{ role: 'user', content: 'x', id: null }],
      }),
    ).toBeUndefined();
  });

  it('refuses an id field of the wrong type', () => {
    expect(refusal(A, { previous_response_id: 42 })).toMatchObject({
      code: 'invalid_type',
      param: 'previous_response_id',
    });
    expect(
      refusal(A, { tools: [{ type: 'code_interpreter', container: { type: 'auto', file_ids: [7] } }] }),
    ).toMatchObject({
      code: 'invalid_type',
      param: 'tools[0].container.file_ids[0]',
    });
    expect(refusal(A, { input: [{ type: 'input_file', file_id: { id: 'x' } }] })).toMatchObject({
      code: 'invalid_type',
    });
  });

  it('refuses a body nested deeper than any the API defines, with a 400 rather than a stack overflow', () => {
    let deep: unknown = { text: 'x' };
    for (let i = 0; i < 5_000; i++) deep = [deep];
    expect(refusal(A, { input: deep })).toMatchObject({ status: 400, code: 'invalid_value' });
  });

  it('fails closed when sealing is not configured', () => {
    resetIdSealingForTests();
    try {
      expect(() => openRequestIds(A, { previous_response_id: 'resp_x' })).toThrow(/not configured/);
      expect(() => sealResponseIds(A, { id: 'resp_x' })).toThrow(/not configured/);
    } finally {
      configureIdSealing(generateIdSealingKeyEntry('k1'));
    }
  });
});

/** A Response as upstream returns it, with an id in every place the spec has one. */
function upstreamResponse() {
  return {
    id: up('resp'),
    object: 'response',
    status: 'completed',
    previous_response_id: up('resp'),
    conversation: { id: 'conv_shared' },
    prompt: {
      id: 'pmpt_shared',
      version: '1',
      variables: { doc: { type: 'input_file', file_id: `file-${hex()}` } },
    },
    metadata: { order_id: 'O-1' },
    tools: [
      { type: 'code_interpreter', container: up('cntr') },
      { type: 'code_interpreter', container: { type: 'auto', file_ids: [`file-${hex()}`] } },
      { type: 'file_search', vector_store_ids: ['vs_shared'] },
      { type: 'function', name: 'f', parameters: { properties: { user_id: {} } } },
    ],
    output: [
      { type: 'reasoning', id: up('rs'), summary: [], encrypted_content: 'gAAAAAB-keep' },
      {
        type: 'code_interpreter_call',
        id: up('ci'),
        container_id: up('cntr'),
        code: 'print(1)',
        outputs: [],
      },
      {
        type: 'file_search_call',
        id: up('fs'),
        queries: ['q'],
        results: [{ file_id: `assistant-${hex()}`, attributes: { owner_id: 'o' } }],
      },
      { type: 'function_call', id: up('fc'), call_id: 'call_1', name: 'f', arguments: '{}' },
      { type: 'mcp_approval_request', id: up('mcpr'), server_label: 's', name: 't', arguments: '{}' },
      {
        type: 'mcp_call',
        id: up('mcp'),
        approval_request_id: up('mcpr'),
        server_label: 's',
        name: 't',
        arguments: '{}',
      },
      { type: 'image_generation_call', id: up('ig'), status: 'completed', result: 'iVBOR' },
      {
        type: 'computer_call',
        id: up('cu'),
        call_id: 'call_2',
        pending_safety_checks: [{ id: 'cu_sc_1', code: 'c' }],
      },
      {
        type: 'message',
        id: up('msg'),
        role: 'assistant',
        content: [
          {
            type: 'output_text',
            text: 'see',
            annotations: [
              { type: 'file_citation', file_id: `assistant-${hex()}`, index: 0, filename: 'a.pdf' },
              {
                type: 'container_file_citation',
                container_id: up('cntr'),
                file_id: `cfile_${hex()}`,
                start_index: 0,
                end_index: 1,
                filename: 'b.csv',
              },
              { type: 'url_citation', url: 'https://example.com', title: 't', start_index: 0, end_index: 1 },
            ],
          },
        ],
      },
    ],
  };
}

describe('ids in what the caller gets back', () => {
  it('seals every id of a response the caller will hold, and only those', () => {
    const upstream = upstreamResponse();
    const sealed = sealResponseIds(A, structuredClone(upstream));
    const o = (i: number) => sealed.output[i] as Record<string, Loose>;
    const u = (i: number) => upstream.output[i] as Record<string, Loose>;
    const opens = (value: string, expected: string) => {
      expect(value).not.toBe(expected);
      expect(openId(A, value)).toBe(expected);
      expect(openId(B, value)).toBeUndefined();
    };
    opens(sealed.id, upstream.id);
    expect(sealed.id.startsWith('resp_')).toBe(true);
    opens(sealed.previous_response_id, upstream.previous_response_id);
    opens(sealed.tools[0]!.container as string, upstream.tools[0]!.container as string);
    opens(
      (sealed.tools[1]!.container as Loose).file_ids[0],
      (upstream.tools[1]!.container as Loose).file_ids[0],
    );
    opens(sealed.prompt.variables.doc.file_id, upstream.prompt.variables.doc.file_id);
    for (let i = 0; i < upstream.output.length; i++) opens(o(i).id, u(i).id);
    opens(o(1).container_id, u(1).container_id);
    opens(o(2).results[0].file_id, u(2).results[0].file_id);
    opens(o(5).approval_request_id, u(5).approval_request_id);
    const annotations = o(8).content[0].annotations;
    opens(annotations[0].file_id, u(8).content[0].annotations[0].file_id);
    opens(annotations[1].container_id, u(8).content[0].annotations[1].container_id);
    opens(annotations[1].file_id, u(8).content[0].annotations[1].file_id);

    // Shared and public ids, and data, come back as they went out.
    expect(sealed.conversation).toEqual({ id: 'conv_shared' });
    expect(sealed.prompt.id).toBe('pmpt_shared');
    expect(sealed.tools[2]).toEqual({ type: 'file_search', vector_store_ids: ['vs_shared'] });
    expect(sealed.tools[3]).toEqual(upstream.tools[3]);
    expect(sealed.metadata).toEqual({ order_id: 'O-1' });
    expect(o(0).encrypted_content).toBe('gAAAAAB-keep');
    expect(o(2).results[0].attributes).toEqual({ owner_id: 'o' });
    expect(o(3).call_id).toBe('call_1');
    expect(o(7).pending_safety_checks).toEqual([{ id: 'cu_sc_1', code: 'c' }]);
    expect(annotations[2]).toEqual(u(8).content[0].annotations[2]);
  });

  it('round-trips: the output items of a sealed response, passed back by the owner, open to the upstream ids', () => {
    const upstream = upstreamResponse();
    const sealed = sealResponseIds(A, structuredClone(upstream));
    const next = {
      previous_response_id: sealed.id,
      input: [
        ...sealed.output,
        { type: 'mcp_approval_response', approval_request_id: sealed.output[4]!.id, approve: true },
        { type: 'item_reference', id: sealed.output[8]!.id },
      ],
      tools: sealed.tools,
    };
    openRequestIds(A, next, { shared: { vector_store: new Set(['vs_shared']) } });
    expect(next.previous_response_id).toBe(upstream.id);
    expect(next.input.slice(0, upstream.output.length)).toEqual(upstream.output);
    expect(next.input.at(-2)).toMatchObject({ approval_request_id: upstream.output[4]!.id });
    expect(next.input.at(-1)).toEqual({ type: 'item_reference', id: upstream.output[8]!.id });
    expect(next.tools).toEqual(upstream.tools);

    // The same items sent by another caller are refused at the first id.
    const stolen = { input: sealResponseIds(A, structuredClone(upstream)).output };
    expect(refusal(B, stolen)).toMatchObject({ reason: 'not_found', param: 'input[0].id' });
  });

  it('seals stream events: the response, the item, item_id and annotations, the same way on every event', () => {
    const response = upstreamResponse();
    const itemId = response.output[8]!.id;
    const events: Record<string, Loose>[] = [
      {
        type: 'response.created',
        sequence_number: 0,
        response: { ...structuredClone(response), output: [] },
      },
      {
        type: 'response.output_item.added',
        sequence_number: 1,
        output_index: 0,
        item: { type: 'message', id: itemId, role: 'assistant', content: [] },
      },
      {
        type: 'response.output_text.delta',
        sequence_number: 2,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        delta: 'he',
        logprobs: [],
      },
      {
        type: 'response.output_text.delta',
        sequence_number: 3,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        delta: 'llo',
        logprobs: [],
      },
      {
        type: 'response.output_text.annotation.added',
        sequence_number: 4,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        annotation_index: 0,
        annotation: { type: 'file_citation', file_id: 'assistant-abc', index: 0, filename: 'a.pdf' },
      },
      { type: 'response.completed', sequence_number: 5, response: structuredClone(response) },
    ];
    for (const event of events) sealResponseIds(A, event);
    const sealedItem = events[1]!.item.id;
    expect(openId(A, sealedItem)).toBe(itemId);
    expect(events[2]!.item_id).toBe(sealedItem);
    expect(events[3]!.item_id).toBe(sealedItem);
    expect(events[4]!.item_id).toBe(sealedItem);
    expect(openId(A, events[4]!.annotation.file_id)).toBe('assistant-abc');
    expect(events[0]!.response.id).toBe(events[5]!.response.id);
    expect(openId(A, events[0]!.response.id)).toBe(response.id);
    expect(events[5]!.response.output[8].id).toBe(sealedItem);
    expect(events[2]).toMatchObject({ delta: 'he', sequence_number: 2, output_index: 0 });
  });

  it('seals input-item lists, files, compaction results and delete results', () => {
    const items = {
      object: 'list',
      data: [
        {
          id: up('msg'),
          type: 'message',
          role: 'user',
          content: [{ type: 'input_file', file_id: 'file-abc' }],
        },
      ],
      first_id: up('msg'),
      last_id: up('msg'),
      has_more: false,
    };
    const list = sealResponseIds(A, structuredClone(items));
    expect(openId(A, list.data[0]!.id)).toBe(items.data[0]!.id);
    expect(openId(A, list.data[0]!.content[0]!.file_id)).toBe('file-abc');
    expect(openId(A, list.first_id)).toBe(items.first_id);
    expect(openId(A, list.last_id)).toBe(items.last_id);

    const file = sealResponseIds(A, {
      id: 'assistant-XYZ',
      object: 'file',
      bytes: 10,
      filename: 'a.pdf',
      purpose: 'assistants',
    });
    expect(file.id.startsWith('assistant-')).toBe(true);
    expect(openId(A, file.id)).toBe('assistant-XYZ');

    const compacted = {
      id: up('cmp'),
      object: 'response.compaction',
      output: [{ type: 'compaction', id: up('cmp'), encrypted_content: 'gAAAAAB-keep' }],
    };
    const c = sealResponseIds(A, structuredClone(compacted));
    expect(openId(A, c.id)).toBe(compacted.id);
    expect(openId(A, c.output[0]!.id)).toBe(compacted.output[0]!.id);
    expect(c.output[0]!.encrypted_content).toBe('gAAAAAB-keep');

    const deleted = sealResponseIds(A, { id: 'resp_abc', object: 'response', deleted: true });
    expect(openId(A, deleted.id)).toBe('resp_abc');
  });

  it('seals an id-shaped field it does not know yet (it still opens only for the caller)', () => {
    const event = sealResponseIds(A, {
      type: 'response.future.event',
      widget_id: 'wid_1',
      thing_ids: ['t_1'],
    });
    expect(openId(A, event.widget_id)).toBe('wid_1');
    expect(openId(A, event.thing_ids[0]!)).toBe('t_1');
  });

  it('leaves values it cannot seal as they are (they open nothing on the way back)', () => {
    const long = `resp_${'a'.repeat(200)}`;
    const r = sealResponseIds(A, { id: long, previous_response_id: '', item_id: null });
    expect(r).toEqual({ id: long, previous_response_id: '', item_id: null });
  });
});

describe('the list of id-bearing fields', () => {
  it('names every *_id / *_ids property of the official Responses API schemas', () => {
    // From the OpenAPI description (CreateResponse, Response, ResponseStreamEvent, ResponseItemList,
    // CompactResource): every property ending in _id or _ids. `id` is handled by where it sits.
    const inSchemas = [
      'approval_request_id',
      'call_id',
      'caller_id',
      'connector_id',
      'container_id',
      'file_id',
      'file_ids',
      'first_id',
      'item_id',
      'last_id',
      'previous_response_id',
      'skill_id',
      'tunnel_id',
      'vector_store_ids',
    ];
    const listed = Object.keys(ID_FIELDS);
    for (const name of inSchemas) expect(listed).toContain(name);
  });
});

function valueAt(root: unknown, path: string): unknown {
  let node: Loose = root;
  for (const part of path.match(/[^.[\]]+/g)!) node = node[/^\d+$/.test(part) ? Number(part) : part];
  return node;
}
