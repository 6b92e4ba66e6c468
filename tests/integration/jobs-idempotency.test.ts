import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Response } from 'openai/resources/responses/responses';
import type { Caller } from '../../shared/callers/auth';
import { getOpenAI } from '../../shared/platform/clients';
import type * as idempotency from '../../shared/idempotency/keys';
import {
  abandonIdempotent,
  beginIdempotent,
  completeIdempotent,
  hashRequestBody,
  IDEMPOTENCY_TTL_MS,
  STALE_CLAIM_MS,
} from '../../shared/idempotency/keys';
import { createHash } from 'node:crypto';
import { registerIdempotencyTasks } from '../../shared/idempotency/tasks';
import { runPollerTick } from '../../shared/jobs';
import { container, table } from '../../shared/platform/storage';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';

let env: JobsEnv;

beforeAll(async () => {
  env = await startJobsEnv();
});

afterAll(async () => {
  await env.close();
});

type Idem = typeof idempotency;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** A create behind an Idempotency-Key, the way the create handler wraps it. */
async function idempotentCreate(
  caller: Caller,
  key: string,
  body: { model: string; input: string },
  idem: Pick<Idem, 'beginIdempotent' | 'completeIdempotent' | 'abandonIdempotent'> = {
    beginIdempotent,
    completeIdempotent,
    abandonIdempotent,
  },
): Promise<{ status: number; body: Response; replayed: boolean }> {
  const begun = await idem.beginIdempotent(caller, key, hashRequestBody(body));
  if (begun.kind === 'replay') return { status: begun.status, body: begun.body as Response, replayed: true };
  try {
    const response = await getOpenAI().responses.create(body);
    await idem.completeIdempotent(begun.token, 200, response);
    return { status: 200, body: response, replayed: false };
  } catch (e) {
    await idem.abandonIdempotent(begun.token);
    throw e;
  }
}

const creates = () => env.upstreamCalls('POST /responses');

describe('idempotent creates', () => {
  it('the same key with the same body replays the first result without a second upstream create', async () => {
    const key = `key-${uniqueSuffix()}`;
    const body = { model: 'gpt-4.1', input: 'Say hello.' };
    const before = await creates();

    const first = await idempotentCreate(env.caller, key, body);
    // Same body, other key order: still the same request.
    const second = await idempotentCreate(env.caller, key, { input: 'Say hello.', model: 'gpt-4.1' });

    expect(first.replayed).toBe(false);
    expect(second.replayed).toBe(true);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await creates()).toBe(before + 1);
  });

  it('keys are scoped to the caller', async () => {
    const key = `key-${uniqueSuffix()}`;
    const body = { model: 'gpt-4.1', input: 'Hi.' };
    const other: Caller = { id: `key:other-${uniqueSuffix()}`, source: 'key', name: 'other' };
    const a = await idempotentCreate(env.caller, key, body);
    const b = await idempotentCreate(other, key, body);
    expect(b.replayed).toBe(false);
    expect(b.body.id).not.toBe(a.body.id);
  });

  it('the same key with a different body is 422', async () => {
    const key = `key-${uniqueSuffix()}`;
    await idempotentCreate(env.caller, key, { model: 'gpt-4.1', input: 'One.' });
    const before = await creates();
    await expect(
      idempotentCreate(env.caller, key, { model: 'gpt-4.1', input: 'Two.' }),
    ).rejects.toMatchObject({
      status: 422,
      code: 'idempotency_key_reused',
    });
    expect(await creates()).toBe(before);
  });

  it('a repeat while the first is still running is 409; exactly one of two concurrent requests proceeds', async () => {
    const key = `key-${uniqueSuffix()}`;
    const hash = hashRequestBody({ model: 'gpt-4.1', input: 'Race.' });
    const results = await Promise.allSettled([
      beginIdempotent(env.caller, key, hash),
      beginIdempotent(env.caller, key, hash),
    ]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    expect((lost[0] as PromiseRejectedResult).reason).toMatchObject({
      status: 409,
      code: 'idempotency_key_in_use',
    });
    await expect(beginIdempotent(env.caller, key, hash)).rejects.toMatchObject({ status: 409 });
  });

  it('an abandoned attempt lets the retry go again', async () => {
    const key = `key-${uniqueSuffix()}`;
    const hash = hashRequestBody({ x: 1 });
    const first = await beginIdempotent(env.caller, key, hash);
    expect(first.kind).toBe('new');
    if (first.kind === 'new') await abandonIdempotent(first.token);
    expect((await beginIdempotent(env.caller, key, hash)).kind).toBe('new');
  });

  it('a running claim left by a crashed instance is taken over, and the old holder cannot overwrite the result', async () => {
    const key = `key-${uniqueSuffix()}`;
    const hash = hashRequestBody({ y: 2 });
    const crashed = await beginIdempotent(env.caller, key, hash, Date.now() - STALE_CLAIM_MS - 1000);
    const retry = await beginIdempotent(env.caller, key, hash);
    expect(retry.kind).toBe('new');
    if (retry.kind !== 'new' || crashed.kind !== 'new') return;
    await completeIdempotent(retry.token, 201, { ok: 'new' });
    await completeIdempotent(crashed.token, 200, { ok: 'old' });
    expect(await beginIdempotent(env.caller, key, hash)).toEqual({
      kind: 'replay',
      status: 201,
      body: { ok: 'new' },
    });
  });

  it('large results are replayed intact', async () => {
    const key = `key-${uniqueSuffix()}`;
    const hash = hashRequestBody({ big: true });
    const big = { text: 'x'.repeat(200_000) };
    const begun = await beginIdempotent(env.caller, key, hash);
    if (begun.kind === 'new') await completeIdempotent(begun.token, 200, big);
    expect(await beginIdempotent(env.caller, key, hash)).toEqual({ kind: 'replay', status: 200, body: big });
  });

  it('after a restart (fresh module state) the same key still replays', async () => {
    const key = `key-${uniqueSuffix()}`;
    const body = { model: 'gpt-4.1', input: 'Restart.' };
    const first = await idempotentCreate(env.caller, key, body);
    const before = await creates();

    vi.resetModules();
    const names = await import('../../shared/platform/storage-names.js');
    names.useStorageNamesForTests(env.names);
    const fresh = await import('../../shared/idempotency/keys.js');
    const replay = await idempotentCreate(env.caller, key, body, fresh);

    expect(replay.replayed).toBe(true);
    expect(replay.body.id).toBe(first.body.id);
    expect(await creates()).toBe(before);
  });

  it('expired keys are purged by the poller, row and result blob, and a key reused meanwhile is kept', async () => {
    const hash = hashRequestBody({ purge: true });
    const big = { text: 'y'.repeat(200_000) };
    const old = `key-${uniqueSuffix()}`;
    const reused = `key-${uniqueSuffix()}`;
    const t0 = Date.now() - IDEMPOTENCY_TTL_MS - 60_000;
    // Two keys used a day ago; the second was used again after it expired (a new claim, a new expiry).
    for (const key of [old, reused]) {
      const begun = await beginIdempotent(env.caller, key, hash, t0);
      if (begun.kind === 'new') await completeIdempotent(begun.token, 200, big);
    }
    const again = await beginIdempotent(env.caller, reused, hash);
    expect(again.kind).toBe('new');
    if (again.kind === 'new') await completeIdempotent(again.token, 200, { second: true });

    const rows = await table(env.names.idempotency);
    const blobs = await container(env.names.responses);
    const oldBlob = (await rows.getEntity<{ bodyBlob?: string }>(env.caller.id, sha256(old))).bodyBlob!;
    expect(await blobs.getBlockBlobClient(oldBlob).exists()).toBe(true);

    registerIdempotencyTasks();
    const tick = await runPollerTick({ log: env.log });
    expect(tick.tasks).toBe(1);
    await expect(rows.getEntity(env.caller.id, sha256(old))).rejects.toMatchObject({ statusCode: 404 });
    expect(await blobs.getBlockBlobClient(oldBlob).exists()).toBe(false);
    expect(await beginIdempotent(env.caller, reused, hash)).toEqual({
      kind: 'replay',
      status: 200,
      body: { second: true },
    });
  });
});
