/**
 * Two callers: every id of the first, in a route or anywhere in a request body, is answered to the second
 * exactly as an id that does not exist, and nothing goes upstream; the owner's own use of the same ids works.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { toFile } from 'openai';
import { startStack, type Stack } from './stack';

let stack: Stack;
let alice: { key: string; client: OpenAI };
let mallory: { key: string; client: OpenAI };
let aliceResponse: OpenAI.Responses.Response;
let aliceBackground: OpenAI.Responses.Response;
let aliceFile: OpenAI.Files.FileObject;

beforeAll(async () => {
  stack = await startStack({ emulator: { backgroundDurationMs: 30_000 } });
  alice = await stack.newCaller('alice');
  mallory = await stack.newCaller('mallory');
  aliceResponse = await alice.client.responses.create({
    model: 'gpt-4.1',
    input: 'secret plans',
    tools: [{ type: 'image_generation' }],
  });
  aliceBackground = await alice.client.responses.create({
    model: 'gpt-4.1',
    input: 'long job',
    background: true,
    stream: false,
  });
  aliceFile = await alice.client.files.create({
    file: await toFile(Buffer.from('%PDF-1.4\n%%EOF'), 'a.pdf'),
    purpose: 'assistants',
  });
});

afterAll(async () => {
  await stack?.stop();
});

const notFound = { status: 404 };

interface Refusal {
  status: number;
  code: string | null | undefined;
  param: string | null | undefined;
  message: string;
}

/** What the SDK raised for a refused request (fails the test if it was not refused). */
async function refusal(request: Promise<unknown>): Promise<Refusal> {
  try {
    await request;
  } catch (e) {
    const err = e as {
      status: number;
      code?: string | null;
      param?: string | null;
      error?: { message?: string };
    };
    return { status: err.status, code: err.code, param: err.param, message: err.error?.message ?? '' };
  }
  throw new Error('the request was not refused');
}

/**
 * The answer for an id nobody was ever given (same prefix and shape as `id`), with that id in its message
 * replaced by `id`: another caller's id must get exactly this.
 */
async function sameAsUnknown(id: string, send: (id: string) => Promise<unknown>): Promise<Refusal> {
  const unknown = `${id.slice(0, id.indexOf('_') + 1)}${'A'.repeat(id.length - id.indexOf('_') - 1)}`;
  const answer = await refusal(send(unknown));
  return { ...answer, message: answer.message.replace(unknown, id) };
}

describe('a caller cannot reach another caller’s work', () => {
  it('cannot retrieve it', async () => {
    await expect(mallory.client.responses.retrieve(aliceResponse.id)).rejects.toMatchObject(notFound);
  });

  it('cannot resume its stream', async () => {
    await expect(
      mallory.client.responses.retrieve(aliceResponse.id, { stream: true, starting_after: 0 }),
    ).rejects.toMatchObject(notFound);
  });

  it('cannot list its input items', async () => {
    await expect(mallory.client.responses.inputItems.list(aliceResponse.id)).rejects.toMatchObject(notFound);
  });

  it('cannot continue it with previous_response_id (the answer for an unknown previous response)', async () => {
    const answer = await refusal(
      mallory.client.responses.create({
        model: 'gpt-4.1',
        previous_response_id: aliceResponse.id,
        input: 'what were the plans?',
      }),
    );
    expect(answer).toMatchObject({
      status: 400,
      code: 'previous_response_not_found',
      param: 'previous_response_id',
    });
    expect(answer).toEqual(
      await sameAsUnknown(aliceResponse.id, (id) =>
        mallory.client.responses.create({ model: 'gpt-4.1', previous_response_id: id, input: 'x' }),
      ),
    );
  });

  it('cannot compact it or count its tokens', async () => {
    const notFoundPrevious = { status: 400, code: 'previous_response_not_found' };
    expect(
      await refusal(
        mallory.client.responses.compact({ model: 'gpt-4.1', previous_response_id: aliceResponse.id }),
      ),
    ).toMatchObject(notFoundPrevious);
    expect(
      await refusal(
        mallory.client.responses.inputTokens.count({
          model: 'gpt-4.1',
          previous_response_id: aliceResponse.id,
          input: 'x',
        }),
      ),
    ).toMatchObject(notFoundPrevious);
  });

  it('cannot read its messages through item_reference, to its input or its output', async () => {
    const inputId = (await alice.client.responses.inputItems.list(aliceResponse.id)).data[0]!.id;
    const outputId = aliceResponse.output.find((i) => i.type === 'message')!.id;
    for (const id of [inputId, outputId]) {
      const answer = await refusal(
        mallory.client.responses.create({
          model: 'gpt-4.1',
          input: [
            { type: 'item_reference', id },
            { role: 'user', content: 'What did I say?' },
          ],
        }),
      );
      expect(answer).toMatchObject({ status: 400, code: 'item_not_found', param: 'input[0].id' });
      expect(answer).toEqual(
        await sameAsUnknown(id, (other) =>
          mallory.client.responses.create({
            model: 'gpt-4.1',
            input: [
              { type: 'item_reference', id: other },
              { role: 'user', content: 'x' },
            ],
          }),
        ),
      );
    }
    // The owner's own references work, and reach the text they name.
    const own = await alice.client.responses.create({
      model: 'gpt-4.1',
      input: [
        { type: 'item_reference', id: inputId },
        { role: 'user', content: 'What did I say?' },
      ],
    });
    expect(own.status).toBe('completed');
  });

  it('cannot run code in its code interpreter container', async () => {
    const ran = await alice.client.responses.create({
      model: 'gpt-4.1',
      input: 'Run this: count the words here.',
      tools: [{ type: 'code_interpreter', container: { type: 'auto' } }],
    });
    const call = ran.output.find((i) => i.type === 'code_interpreter_call')!;
    expect(call.container_id).toMatch(/^cntr_/);
    const answer = await refusal(
      mallory.client.responses.create({
        model: 'gpt-4.1',
        input: 'Run this: list the files.',
        tools: [{ type: 'code_interpreter', container: call.container_id }],
      }),
    );
    expect(answer).toMatchObject({ status: 400, code: 'container_not_found', param: 'tools[0].container' });
    const again = await alice.client.responses.create({
      model: 'gpt-4.1',
      input: 'Run this: count again.',
      tools: [{ type: 'code_interpreter', container: call.container_id }],
    });
    expect(again.output.find((i) => i.type === 'code_interpreter_call')!.container_id).toBe(
      call.container_id,
    );
  });

  it('refuses ids of resources it cannot vouch for (vector stores, conversations, prompts), naming the field', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tools: [{ type: 'file_search', vector_store_ids: ['vs_abc'] }] }, 'tools[0].vector_store_ids[0]'],
      [{ conversation: 'conv_abc' }, 'conversation'],
      [{ prompt: { id: 'pmpt_abc' } }, 'prompt.id'],
      [{ input: [{ type: 'message', role: 'user', content: 'x', secret_id: 'x' }] }, 'input[0].secret_id'],
    ];
    for (const [fields, param] of cases) {
      const answer = await refusal(
        mallory.client.responses.create({ model: 'gpt-4.1', input: 'x', ...fields } as never),
      );
      expect(answer).toMatchObject({ status: 400, param });
    }
  });

  it('cannot fetch its generated images', async () => {
    const call = aliceResponse.output.find((i) => i.type === 'image_generation_call')!;
    const res = await fetch(`${stack.baseURL}/responses/${aliceResponse.id}/images/${call.id}`, {
      headers: { authorization: `Bearer ${mallory.key}` },
    });
    expect(res.status).toBe(404);
    const own = await fetch(`${stack.baseURL}/responses/${aliceResponse.id}/images/${call.id}`, {
      headers: { authorization: `Bearer ${alice.key}` },
    });
    expect(own.status).toBe(200);
  });

  it('cannot use or see its files', async () => {
    await expect(mallory.client.files.retrieve(aliceFile.id)).rejects.toMatchObject(notFound);
    expect(
      await refusal(
        mallory.client.responses.create({
          model: 'gpt-4.1',
          input: [{ role: 'user', content: [{ type: 'input_file', file_id: aliceFile.id }] }],
        }),
      ),
    ).toMatchObject({ status: 400, code: 'file_not_found', param: 'input[0].content[0].file_id' });
    await expect(mallory.client.files.delete(aliceFile.id)).rejects.toMatchObject(notFound);
  });

  it('cannot cancel it', async () => {
    await expect(mallory.client.responses.cancel(aliceBackground.id)).rejects.toMatchObject(notFound);
    expect(['queued', 'in_progress']).toContain(
      (await alice.client.responses.retrieve(aliceBackground.id)).status,
    );
  });

  it('cannot delete it, and the owner still can', async () => {
    await expect(mallory.client.responses.delete(aliceResponse.id)).rejects.toMatchObject(notFound);
    expect((await alice.client.responses.retrieve(aliceResponse.id)).id).toBe(aliceResponse.id);
  });

  it('gets the same 404 body for another caller’s id as for an id that never existed', async () => {
    const get = async (id: string) => {
      const res = await fetch(`${stack.baseURL}/responses/${id}`, {
        headers: { authorization: `Bearer ${mallory.key}` },
      });
      return { status: res.status, body: (await res.json()) as { error: { message: string; code: string } } };
    };
    const theirs = await get(aliceResponse.id);
    const missing = await get('resp_doesnotexist');
    expect(theirs.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(theirs.body.error.code).toBe(missing.body.error.code);
    expect(theirs.body.error.message.replace(aliceResponse.id, 'X')).toBe(
      missing.body.error.message.replace('resp_doesnotexist', 'X'),
    );
  });

  it('never forwards a request for an id it does not own', async () => {
    // Routes the background poller never calls, so their upstream counters move only if a request was forwarded.
    const routes = [
      'GET /responses/{id}/input_items',
      'POST /responses/{id}/cancel',
      'DELETE /responses/{id}',
      'POST /responses',
    ];
    const counts = async () => {
      const { requests } = await stack.emulatorStats();
      return routes.map((r) => requests[r] ?? 0);
    };
    const before = await counts();
    await mallory.client.responses.inputItems.list(aliceResponse.id).catch(() => undefined);
    await mallory.client.responses.cancel(aliceBackground.id).catch(() => undefined);
    await mallory.client.responses.delete(aliceResponse.id).catch(() => undefined);
    await mallory.client.responses
      .create({ model: 'gpt-4.1', input: [{ type: 'item_reference', id: aliceResponse.output[0]!.id! }] })
      .catch(() => undefined);
    expect(await counts()).toEqual(before);
  });
});
