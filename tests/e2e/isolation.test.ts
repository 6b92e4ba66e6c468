/** Two callers: the second gets 404 for every id of the first, on every id-bearing route. */
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

  it('cannot continue it with previous_response_id', async () => {
    await expect(
      mallory.client.responses.create({
        model: 'gpt-4.1',
        previous_response_id: aliceResponse.id,
        input: 'what were the plans?',
      }),
    ).rejects.toMatchObject(notFound);
  });

  it('cannot compact it or count its tokens', async () => {
    await expect(
      mallory.client.responses.compact({ model: 'gpt-4.1', previous_response_id: aliceResponse.id }),
    ).rejects.toMatchObject(notFound);
    await expect(
      mallory.client.responses.inputTokens.count({
        model: 'gpt-4.1',
        previous_response_id: aliceResponse.id,
        input: 'x',
      }),
    ).rejects.toMatchObject(notFound);
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
    await expect(
      mallory.client.responses.create({
        model: 'gpt-4.1',
        input: [{ role: 'user', content: [{ type: 'input_file', file_id: aliceFile.id }] }],
      }),
    ).rejects.toMatchObject(notFound);
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
    ];
    const counts = async () => {
      const { requests } = await stack.emulatorStats();
      return routes.map((r) => requests[r] ?? 0);
    };
    const before = await counts();
    await mallory.client.responses.inputItems.list(aliceResponse.id).catch(() => undefined);
    await mallory.client.responses.cancel(aliceBackground.id).catch(() => undefined);
    await mallory.client.responses.delete(aliceResponse.id).catch(() => undefined);
    expect(await counts()).toEqual(before);
  });
});
