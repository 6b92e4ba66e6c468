/**
 * Storage failing under work that must not mistake a failure for absence. Table requests go through a proxy in
 * front of the run's Azurite that refuses chosen requests with 503, so a read or a delete can fail while
 * everything else works; what is stored must survive, and the caller must hear of the failure.
 */
import { InvocationContext } from '@azure/functions';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { deleteJob, terminalResponseFromJob, trackBackgroundJob } from '../../shared/jobs';
import { stillExists } from '../../shared/jobs/finalize';
import { JOB_ROW, openJobStore, readJob, readResponseJson, storeResponseJson } from '../../shared/jobs/store';
import { createResponse } from '../../shared/responses/create';
import { listInputItems, retrieveResponse } from '../../shared/responses/retrieve';
import { table } from '../../shared/platform/storage';
import { startStorageProxy, type StorageProxy } from '../support/storage-proxy';
import { startJobsEnv, type JobsEnv } from './support/jobs-env';

let proxy: StorageProxy;
let env: JobsEnv;

beforeAll(async () => {
  const shared = inject('storageConnectionString');
  const tableEndpoint = /TableEndpoint=([^;]+)/.exec(shared)![1]!;
  const target = new URL(tableEndpoint);
  proxy = await startStorageProxy(target.origin);
  const viaProxy = shared.replace(tableEndpoint, `${proxy.origin}${target.pathname}`);
  env = await startJobsEnv({ env: { AzureWebJobsStorage: viaProxy } });
});

afterEach(() => proxy.failWhen(undefined));

afterAll(async () => {
  await env?.close();
  await proxy?.close();
});

const isTable = (name: string) => (req: { url?: string }) => (req.url ?? '').includes(`/${name}(`);

describe('storage failing is not absence', () => {
  it('stillExists throws when the read fails, and says false only for a job that is gone', async () => {
    const response = await env.createBackground();
    await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
    const store = await openJobStore();
    const job = (await readJob(store, response.id))!;
    expect(await stillExists(store, job)).toBe(true);

    proxy.failWhen((req) => req.method === 'GET' && isTable(env.names.jobs)(req));
    await expect(stillExists(store, job)).rejects.toThrow();
    expect(proxy.refused()).toBeGreaterThan(0);
    proxy.failWhen(undefined);

    await store.jobs.deleteEntity(response.id, JOB_ROW);
    expect(await stillExists(store, job)).toBe(false);
  });

  it('deleteJob reports a failed row delete and leaves the job for a retry, which then deletes it', async () => {
    const response = await env.createBackground();
    await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
    await storeResponseJson({ ...response, status: 'completed' });

    proxy.failWhen(
      (req) => req.method === 'DELETE' && isTable(env.names.jobs)(req) && !/'due(-\d+)?'/.test(req.url!),
    );
    await expect(deleteJob(response.id)).rejects.toThrow();
    proxy.failWhen(undefined);
    expect(await readJob(await openJobStore(), response.id)).toBeDefined();
    expect(await readResponseJson(response.id)).toBeDefined();

    await deleteJob(response.id);
    expect(await readJob(await openJobStore(), response.id)).toBeUndefined();
    expect(await readResponseJson(response.id)).toBeUndefined();
    expect(await terminalResponseFromJob(response.id)).toBeUndefined();
  });

  it('a streamed background create whose job cannot be recorded ends with one storage error and is deleted upstream', async () => {
    const context = new InvocationContext({ functionName: 'responses-create' });
    const deletesBefore = await env.upstreamCalls('DELETE /responses/{id}');
    // Every write to the jobs table fails (the job row and its due-index row); everything else works.
    proxy.failWhen((req) => req.method !== 'GET' && (req.url ?? '').includes(`/${env.names.jobs}`));
    const result = await createResponse(
      { caller: env.caller, context, signal: new AbortController().signal },
      { model: 'gpt-4.1', input: 'Say hello.', stream: true, background: true },
    );
    if (!('stream' in result)) throw new Error('expected a stream');
    const chunks: string[] = [];
    for await (const chunk of result.stream) chunks.push(Buffer.from(chunk).toString('utf8'));
    const events = chunks
      .join('')
      .split('\n\n')
      .filter(Boolean)
      .map(
        (frame) =>
          JSON.parse(
            frame
              .split('\n')
              .find((l) => l.startsWith('data: '))!
              .slice(6),
          ) as Record<string, unknown>,
      );
    // The caller never sees the id (no frame goes out before the job is recorded), and hears one error: storage's.
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'error', code: 'storage_unavailable' });
    // The response was cancelled and deleted upstream rather than left running with nobody tracking it.
    expect(await env.upstreamCalls('DELETE /responses/{id}')).toBe(deletesBefore + 1);
  });

  it('synchronous and streamed creates, retrieves and input items need no storage at all', async () => {
    const context = new InvocationContext({ functionName: 'responses-create' });
    const signal = new AbortController().signal;
    // Every table request fails. The only ones expected are the usage ledger's, which are written after the
    // answer, off the request path, and retried in the background (shared/usage/ledger.ts).
    await table(env.names.usage); // exists already, as in a deployment (Bicep creates it)
    const tablesAsked: string[] = [];
    proxy.failWhen((req) => {
      tablesAsked.push(/^\/[^/]+\/([A-Za-z0-9]+)/.exec(req.url ?? '')?.[1] ?? req.url ?? '');
      return true;
    });
    const sync = await createResponse(
      { caller: env.caller, context, signal },
      { model: 'gpt-4.1', input: 'Hi.' },
    );
    if (!('response' in sync)) throw new Error('expected JSON');
    expect(sync.response.status).toBe('completed');
    const streamed = await createResponse(
      { caller: env.caller, context, signal },
      { model: 'gpt-4.1', input: 'Hi again.', stream: true },
    );
    if (!('stream' in streamed)) throw new Error('expected a stream');
    let frames = '';
    for await (const chunk of streamed.stream) frames += Buffer.from(chunk).toString('utf8');
    expect(frames).toContain('event: response.completed');
    expect(frames).not.toContain('event: error');
    const retrieved = await retrieveResponse(env.caller, sync.response.id, []);
    expect(retrieved.id).toBe(sync.response.id);
    const items = await listInputItems(env.caller, sync.response.id, { include: [] });
    expect(items.data.length).toBeGreaterThan(0);
    expect(tablesAsked.filter((name) => name !== env.names.usage)).toEqual([]);
  });
});
