/**
 * `GET /v1/usage` at handler level, and the ledger under it: a response is counted once however often it is
 * recorded (a re-run finalization, two instances), a background job's row comes from its finalization, and a
 * write that fails is retried off the caller's path.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Timer } from '@azure/functions';
import type { Response } from 'openai/resources/responses/responses';
import {
  call,
  invocationContext,
  runPollQueue,
  openAIError,
  startHandlerEnv,
  until,
  type HandlerEnv,
  type TestCaller,
} from './support';
import { timerFunction } from './registry';
import { openJobStore, readJob } from '../../shared/jobs/store';
import { ledgerEntry } from '../../shared/jobs/usage';
import { openForCaller } from '../../shared/platform/caller-ids';
import {
  flushUsage,
  recordUsage,
  usagePartition,
  writeUsage,
  type UsageEntry,
} from '../../shared/usage/ledger';
import { table } from '../../shared/platform/storage';
import { storageNames } from '../../shared/platform/storage-names';
import '../../functions/index';
import '../../functions/responses-create';
import '../../functions/usage-get';
import '../../functions/poll-background-timer';
import '../../functions/poll-background-queue';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

interface Page {
  data: {
    start_time: number;
    results: { input_tokens: number; output_tokens: number; num_model_requests: number }[];
  }[];
}

let env: HandlerEnv;
let alice: TestCaller;
let bob: TestCaller;
const since = Math.floor(Date.now() / 1000) - 3600;

beforeAll(async () => {
  env = await startHandlerEnv({ emulator: { backgroundDurationMs: 200 } });
  alice = await env.newCaller('alice');
  bob = await env.newCaller('bob');
});

afterAll(async () => {
  await env?.close();
});

const timer: Timer = {
  isPastDue: false,
  schedule: { adjustForDST: false },
  scheduleStatus: { last: '', next: '', lastUpdated: '' },
};

async function totals(caller: TestCaller) {
  const answer = await call('usage-get', { key: caller.key, query: `start_time=${since}` });
  expect(answer.status, answer.text).toBe(200);
  const t = { input: 0, output: 0, requests: 0 };
  for (const bucket of answer.json<Page>().data)
    for (const r of bucket.results) {
      t.input += r.input_tokens;
      t.output += r.output_tokens;
      t.requests += r.num_model_requests;
    }
  return t;
}

async function create(caller: TestCaller, body: Record<string, unknown>): Promise<Response> {
  const answer = await call('responses-create', { key: caller.key, json: { input: 'Count me.', ...body } });
  expect(answer.status, answer.text).toBe(200);
  return answer.json<Response>();
}

describe('GET /v1/usage (usage-get)', () => {
  it("counts a caller's synchronous response once and shows it to that caller only", async () => {
    const response = await create(alice, {});
    await flushUsage();
    expect(await totals(alice)).toEqual({
      input: response.usage!.input_tokens,
      output: response.usage!.output_tokens,
      requests: 1,
    });
    expect(await totals(bob)).toEqual({ input: 0, output: 0, requests: 0 });
  });

  it('answers 400 naming a bad parameter and 401 without a key, both OpenAI-shaped', async () => {
    const bad = await call('usage-get', { key: alice.key, query: `start_time=${since}&bucket_width=1w` });
    expect(bad.status).toBe(400);
    expect(openAIError(bad)).toMatchObject({ type: 'invalid_request_error', param: 'bucket_width' });
    const anonymous = await call('usage-get', { key: null, query: `start_time=${since}` });
    expect(anonymous.status).toBe(401);
  });
});

describe('the ledger', () => {
  it("records a background response at its finalization, and a duplicate finalization's write changes nothing", async () => {
    const before = await totals(alice);
    const response = await create(alice, { background: true });
    const poll = timerFunction('poll-background-timer').handler;
    const store = await openJobStore();
    const upstreamId = openForCaller(`key:${alice.name}`, response.id)!;
    await until('the job to be finalized', async () => {
      // The timer claims and queues; the queue trigger polls (drained here as the host would).
      await poll(timer, invocationContext('poll-background-timer'));
      await runPollQueue();
      return (await readJob(store, upstreamId))?.phase === 'finalized';
    });
    const job = (await readJob(store, upstreamId))!;
    const after = await totals(alice);
    expect(after.requests).toBe(before.requests + 1);
    const usage = JSON.parse(job.usage!) as NonNullable<Response['usage']>;
    expect(after.output - before.output).toBe(usage.output_tokens);
    // The same finalization again (a crash after the write, before the step was recorded): one row still.
    expect(await writeUsage(ledgerEntry(job, 'completed', undefined))).toBe(false);
    expect(await totals(alice)).toEqual(after);
  });

  it('keeps one row per response, in the hour it was created, whenever and however often it is written', async () => {
    const createdAt = Date.UTC(2026, 0, 1, 23, 59, 59);
    const entry: UsageEntry = {
      responseId: `resp_test_${Date.now()}`,
      callerId: 'key:hour-test',
      deployment: 'gpt-4.1',
      createdAt,
      status: 'completed',
      kind: 'response',
      usage: { input_tokens: 3, output_tokens: 4, input_tokens_details: { cached_tokens: 1 } },
    };
    const results = await Promise.all([writeUsage(entry), writeUsage(entry), writeUsage(entry)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(usagePartition(entry.callerId, createdAt)).toBe('key%3Ahour-test|2026010123');
    const rows = (await table(storageNames().usage)).listEntities<Record<string, unknown>>({
      queryOptions: { filter: `PartitionKey eq 'key%3Ahour-test|2026010123'` },
    });
    const found: Record<string, unknown>[] = [];
    for await (const row of rows) found.push(row);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ inputTokens: 3, cachedInputTokens: 1, outputTokens: 4, requests: 1 });
  });

  it('retries a failed write in the background and gives up with a log line carrying the entry', async () => {
    const lines: string[] = [];
    const log = {
      log: (m: string) => lines.push(m),
      warn: (m: string) => lines.push(m),
      error: (m: string) => lines.push(m),
    };
    let attempts = 0;
    recordUsage(() => {
      attempts++;
      if (attempts < 2) return Promise.reject(new Error('storage is down'));
      return Promise.resolve({
        responseId: `resp_retry_${Date.now()}`,
        callerId: `key:${bob.name}`,
        deployment: 'gpt-4.1',
        createdAt: Date.now(),
        status: 'completed',
        kind: 'response',
        usage: { input_tokens: 5, output_tokens: 6 },
      });
    }, log);
    await flushUsage();
    expect(attempts).toBe(2);
    expect(await totals(bob)).toEqual({ input: 5, output: 6, requests: 1 });
    recordUsage(() => Promise.reject(new Error('storage is down for good')), log, 2);
    await flushUsage();
    expect(lines.map((l) => JSON.parse(l) as { event: string })).toEqual([
      expect.objectContaining({ event: 'usage.record_failed', error: 'storage is down for good' }),
    ]);
  });
});
