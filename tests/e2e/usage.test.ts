/**
 * The usage ledger through the running app: every kind of response a caller makes (synchronous, incomplete,
 * streamed, a stream cut short, background, cancelled, an Idempotency-Key replayed, a compaction) and document
 * summaries are counted once, exactly as the upstream billed them (the emulator's `GET /_emulator/usage`, per
 * safety identifier); `GET /api/v1/usage` answers in the shape of OpenAI's Usage API, to its caller only; and
 * the safety identifier the gateway sends upstream is the caller's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Ajv2020 from 'ajv/dist/2020';
import { BlobServiceClient } from '@azure/storage-blob';
import { TableClient } from '@azure/data-tables';
import { safetyIdentifier } from '../../shared/callers/safety';
import { billedTotals, type BilledTotals } from '../support/emulator-usage';
import { STORAGE_CALLER } from '../../shared/documents/owner';
import { makePdf, waitFor } from '../integration/documents-support';
import { readEmulatorRequests } from '../support/emulator-requests';
import { EMULATOR_KEY, startStack, type Stack } from './stack';

type Caller = Awaited<ReturnType<Stack['newCaller']>>;

type Totals = BilledTotals;

interface Page {
  object: string;
  data: Array<{
    object: string;
    start_time: number;
    end_time: number;
    results: Array<{
      input_tokens: number;
      input_cached_tokens: number;
      output_tokens: number;
      num_model_requests: number;
      model: string | null;
    }>;
  }>;
  has_more: boolean;
  next_page: string | null;
  error?: { message: string; param: string | null; type: string };
}

let stack: Stack;
let a: Caller;
let b: Caller;
const since = Math.floor(Date.now() / 1000) - 3600;

const validatePage = new Ajv2020({ strict: false }).compile(
  JSON.parse(
    readFileSync(join(__dirname, '..', 'support', 'schemas', 'usage.schema.json'), 'utf8'),
  ) as object,
);

beforeAll(async () => {
  stack = await startStack({
    watchBlobs: true,
    emulator: { backgroundDurationMs: 400, streamEventDelayMs: 5 },
  });
  a = await stack.newCaller('usage-a');
  b = await stack.newCaller('usage-b');
});

afterAll(async () => {
  await stack?.stop();
});

async function usage(key: string, params: Record<string, string>): Promise<{ status: number; body: Page }> {
  const res = await fetch(`${stack.baseURL}/usage?${new URLSearchParams(params).toString()}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  return { status: res.status, body: (await res.json()) as Page };
}

function totalsOf(page: Page): Totals {
  const t = { input: 0, cached: 0, output: 0, requests: 0 };
  for (const bucket of page.data) {
    for (const r of bucket.results) {
      t.input += r.input_tokens;
      t.cached += r.input_cached_tokens;
      t.output += r.output_tokens;
      t.requests += r.num_model_requests;
    }
  }
  return t;
}

/** What the emulator billed to one caller. */
const billed = (callerId: string): Promise<Totals> => billedTotals(stack.emulatorUrl, callerId, EMULATOR_KEY);

const plus = (x: Totals, y: Totals): Totals => ({
  input: x.input + y.input,
  cached: x.cached + y.cached,
  output: x.output + y.output,
  requests: x.requests + y.requests,
});

async function ledgerOf(caller: Caller): Promise<Totals> {
  const res = await usage(caller.key, { start_time: String(since) });
  expect(res.status).toBe(200);
  return totalsOf(res.body);
}

async function post(caller: Caller, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as { id: string; status: string } };
}

describe('the usage ledger', () => {
  it('counts every kind of response once, as the upstream billed it', async () => {
    const client = a.client;
    await client.responses.create({ model: 'gpt-4.1', input: 'Count this one.' });
    await client.responses.create({
      model: 'gpt-4.1',
      input: 'Cut this one short.',
      metadata: { emulator_outcome: 'incomplete' },
    });
    for await (const _ of await client.responses.create({
      model: 'gpt-4.1',
      input: 'Stream it.',
      stream: true,
    }));
    // A stream cut before its terminal event: the usage is read back from upstream afterwards.
    await stack.fault({ kind: 'stream_cut', afterEvents: 3, count: 1 });
    try {
      for await (const _ of await client.responses.create({ model: 'gpt-4.1', input: 'Cut.', stream: true }));
    } catch {
      // the SDK may raise on the gateway's closing error frame
    }
    const done = await client.responses.create({
      model: 'gpt-4.1',
      input: 'In the background.',
      background: true,
    });
    const slow = await client.responses.create({
      model: 'gpt-4.1',
      input: 'Cancel me.',
      background: true,
      metadata: { emulator_duration_ms: '5000' },
    });
    await client.responses.cancel(slow.id);
    // The same Idempotency-Key twice: one upstream response, counted once.
    const key = randomUUID();
    const first = await post(a, { model: 'gpt-4.1', input: 'Once only.' }, { 'idempotency-key': key });
    const replay = await post(a, { model: 'gpt-4.1', input: 'Once only.' }, { 'idempotency-key': key });
    expect(replay.json.id).toBe(first.json.id);
    const compacted = await client.responses.compact({
      model: 'gpt-4.1',
      input: [{ role: 'user', content: 'Fold this conversation.' }],
    });
    const compaction: Totals = {
      input: compacted.usage.input_tokens,
      cached: compacted.usage.input_tokens_details.cached_tokens,
      output: compacted.usage.output_tokens,
      requests: 1,
    };
    await waitFor('the background response', async () => {
      const r = await client.responses.retrieve(done.id);
      return r.status === 'completed' ? r : undefined;
    });

    // sync, incomplete, stream, cut stream, background, cancelled, idempotent: seven upstream responses.
    const upstream = await waitFor('the upstream to bill seven responses', async () => {
      const t = await billed(`key:${a.name}`);
      return t.requests === 7 ? t : undefined;
    });
    const expected = plus(upstream, compaction);
    const ledger = await waitFor(
      'the ledger to match the upstream',
      async () => {
        const t = await ledgerOf(a);
        return t.requests >= expected.requests ? t : undefined;
      },
      30_000,
      () => stack.hostLogs().slice(-3000),
    );
    expect(ledger).toEqual(expected);
    expect(ledger.output).toBeGreaterThan(0);
    // Stays so: nothing recorded later counts a response again.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await ledgerOf(a)).toEqual(expected);
  });

  it('charges a document summary to its uploader, and a blob dropped into storage to the documents caller', async () => {
    const uploader = await stack.newCaller('usage-docs');
    const pdf = await makePdf(['The ledger counts summaries too.']);
    const upload = await fetch(`${stack.baseURL}/documents?filename=ledger.pdf`, {
      method: 'POST',
      headers: { authorization: `Bearer ${uploader.key}`, 'content-type': 'application/pdf' },
      body: pdf,
    });
    expect(upload.status).toBeLessThan(300);
    const upstream = await waitFor(
      'the summary to be billed',
      async () => {
        const t = await billed(`key:${uploader.name}`);
        return t.requests === 1 ? t : undefined;
      },
      30_000,
    );
    const byModel = await waitFor('the summary in the ledger', async () => {
      const res = await usage(uploader.key, { start_time: String(since), group_by: 'model' });
      return totalsOf(res.body).requests === 1 ? res.body : undefined;
    });
    expect(totalsOf(byModel)).toEqual(upstream);
    expect(byModel.data.flatMap((d) => d.results.map((r) => r.model))).toEqual(['gpt-4.1-mini']);

    // Dropped straight into the container: no uploader, so the documents caller pays.
    const service = BlobServiceClient.fromConnectionString(stack.storageConnectionString);
    const documents = service.getContainerClient('documents');
    await documents.createIfNotExists();
    await documents.getBlockBlobClient(`ledger-${randomUUID().slice(0, 8)}.pdf`).uploadData(pdf);
    const storageBilled = await waitFor(
      'the dropped blob to be billed',
      async () => {
        const t = await billed(STORAGE_CALLER.id);
        return t.requests >= 1 ? t : undefined;
      },
      30_000,
    );
    const rows = TableClient.fromConnectionString(stack.storageConnectionString, 'usage', {
      allowInsecureConnection: true,
    });
    const storageLedger = await waitFor('the dropped blob in the ledger', async () => {
      const t = { input: 0, cached: 0, output: 0, requests: 0 };
      for await (const row of rows.listEntities<Record<string, number>>()) {
        if (!String(row.partitionKey).startsWith(`${encodeURIComponent(STORAGE_CALLER.id)}|`)) continue;
        t.input += row.inputTokens!;
        t.cached += row.cachedInputTokens!;
        t.output += row.outputTokens!;
        t.requests += row.requests!;
      }
      return t.requests === storageBilled.requests ? t : undefined;
    });
    expect(storageLedger).toEqual(storageBilled);
  });
});

describe('GET /api/v1/usage', () => {
  it("shows a caller only its own usage, in the shape of OpenAI's Usage API", async () => {
    const own = await b.client.responses.create({ model: 'gpt-4.1', input: 'Mine alone.' });
    const res = await waitFor('the response in the ledger', async () => {
      const r = await usage(b.key, { start_time: String(since), bucket_width: '1h', group_by: 'model' });
      return totalsOf(r.body).requests === 1 ? r : undefined;
    });
    expect(res.status).toBe(200);
    expect(validatePage(res.body), JSON.stringify(validatePage.errors)).toBe(true);
    expect(totalsOf(res.body)).toEqual({
      input: own.usage!.input_tokens,
      cached: own.usage!.input_tokens_details.cached_tokens,
      output: own.usage!.output_tokens,
      requests: 1,
    });
    const bucket = res.body.data.find((d) => d.results.length > 0)!;
    expect(bucket.object).toBe('bucket');
    expect(bucket.end_time - bucket.start_time).toBe(3600);
    expect(bucket.start_time).toBeLessThanOrEqual(own.created_at);
    expect(bucket.end_time).toBeGreaterThan(own.created_at);
    expect(bucket.results[0]).toMatchObject({
      object: 'organization.usage.completions.result',
      model: 'gpt-4.1',
    });
    // a's many responses are not in b's page, and b's one is not in a's count (the first test compared a's).
    const aTotals = await ledgerOf(a);
    expect(aTotals.requests).toBeGreaterThan(1);
  });

  it('pages buckets with limit and next_page, and answers empty buckets too', async () => {
    const start = Math.floor(Date.now() / 1000) - 3 * 3600;
    const first = await usage(b.key, { start_time: String(start), bucket_width: '1h', limit: '2' });
    expect(first.status).toBe(200);
    expect(validatePage(first.body)).toBe(true);
    expect(first.body.data).toHaveLength(2);
    expect(first.body.data.every((d) => d.results.length === 0)).toBe(true);
    expect(first.body.has_more).toBe(true);
    const second = await usage(b.key, {
      start_time: String(start),
      bucket_width: '1h',
      limit: '2',
      page: first.body.next_page!,
    });
    expect(second.body.data[0]!.start_time).toBe(first.body.data[1]!.end_time);
    expect(totalsOf(second.body).requests).toBe(1);
    expect(second.body.has_more).toBe(false);
    expect(second.body.next_page).toBeNull();
    const daily = await usage(b.key, { start_time: String(start) });
    expect(daily.body.data[0]!.end_time - daily.body.data[0]!.start_time).toBe(86_400);
  });

  it.each([
    [{}, 'start_time'],
    [{ start_time: 'yesterday' }, 'start_time'],
    [{ start_time: '1000', end_time: '999' }, 'end_time'],
    [{ start_time: '1000', bucket_width: '1m' }, 'bucket_width'],
    [{ start_time: '1000', group_by: 'project_id' }, 'group_by'],
    [{ start_time: '1000', limit: '0' }, 'limit'],
    [{ start_time: '1000', bucket_width: '1h', limit: '169' }, 'limit'],
    [{ start_time: '1000', page: 'not-a-cursor' }, 'page'],
  ] as Array<[Record<string, string>, string]>)('answers %j with a 400 naming %s', async (params, param) => {
    const res = await usage(b.key, params);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ type: 'invalid_request_error', param });
    expect(res.body.error!.message).toContain(param);
  });

  it('needs credentials', async () => {
    const res = await fetch(`${stack.baseURL}/usage?start_time=${since}`);
    expect(res.status).toBe(401);
  });
});

describe('the safety identifier sent upstream', () => {
  it('is a stable hash of the caller, replacing one the caller sent', async () => {
    const ns = `usage-sid-${randomUUID().slice(0, 8)}`;
    for (const caller of [a, a, b]) {
      await caller.client.responses.create({
        model: 'gpt-4.1',
        input: 'Who am I?',
        safety_identifier: 'caller-chosen',
        metadata: { emulator_namespace: ns },
      });
    }
    const sent = (
      await readEmulatorRequests(stack.emulatorUrl, { namespace: ns, method: 'POST', route: '/responses' })
    ).map((r) => (r.body as { safety_identifier?: string }).safety_identifier);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^gw-[0-9a-f]{40}$/);
    expect(sent[1]).toBe(sent[0]);
    expect(sent[2]).not.toBe(sent[0]);
    expect(sent[0]).toBe(safetyIdentifier({ id: `key:${a.name}` }));
    expect(sent.join()).not.toContain(a.name);
  });
});
