/**
 * Harness of the reliability suite: the real app under the local host (a child process, killable), the
 * Responses API emulator, Azurite (the run's, or a dedicated one), a webhook receiver, and helpers that read
 * what the service stored. Unlike tests/e2e/stack.ts it keeps the logs of every host it started, so a suite
 * that kills and restarts the host can still count finalizations and scan for crashes across all of them.
 *
 * Size: RELIABILITY_SCALE=ci (default; a few minutes on 2 cores) or full.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { inject } from 'vitest';
import { startEmulator, type RunningEmulator } from '../../tools/emulator/server';
import {
  billedResponses,
  billedTotals,
  type BilledResponse,
  type BilledTotals,
} from '../support/emulator-usage';
import { spawnHost, type SpawnedHost } from '../support/host';
import { freePort } from '../support/ports';
import { BASE_SETTINGS, EMULATOR_KEY, upstreamWebhookWiring, useTestStorage } from '../e2e/stack';
import { createKey } from '../../shared/callers/keys';
import { registerWebhook } from '../../shared/webhooks/registration';
import { openJobStore, readJob } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import { setTimeout as sleep } from 'node:timers/promises';
import { openForCaller } from '../../shared/platform/caller-ids';
import { table } from '../../shared/platform/storage';
import { storageNames } from '../../shared/platform/storage-names';
import { odata } from '../../shared/platform/sdk';

export { sleep };

export type Scale = 'ci' | 'full';
export const SCALE: Scale = process.env.RELIABILITY_SCALE === 'full' ? 'full' : 'ci';

/** Workload sizes per scale. */
export const SIZES = {
  ci: {
    stormCreates: 150,
    stormJobs: 40,
    upstreamStormJobs: 40,
    crashJobs: 60,
    crashDocuments: 4,
    crashKills: 3,
    loadStreams: 60,
    outageMs: 20_000,
    multiJobs: 200,
    multiKills: 3,
  },
  full: {
    stormCreates: 1000,
    stormJobs: 200,
    upstreamStormJobs: 300,
    crashJobs: 500,
    crashDocuments: 20,
    crashKills: 6,
    loadStreams: 500,
    outageMs: 20_000,
    multiJobs: 2000,
    multiKills: 6,
  },
}[SCALE];

type EmulatorOptions = NonNullable<Parameters<typeof startEmulator>[0]>;

export interface Delivery {
  webhookId: string;
  event: { id: string; type: string; data: { id: string; status?: string } & Record<string, unknown> };
}

export interface ReliabilityStack {
  hostUrl(): string;
  baseURL(): string;
  emulator: RunningEmulator;
  storageConnectionString: string;
  settings: Record<string, string>;
  /** A new caller with a fresh key, a webhook registration (per-request URLs allowed) pointing at the receiver. */
  newCaller(prefix?: string): Promise<Caller>;
  /** Every delivery the webhook receiver got, in arrival order. */
  deliveries: Delivery[];
  webhookUrl: string;
  fault(spec: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
  emulatorStats(): Promise<{
    requests: Record<string, number>;
    responses: number;
    running: number;
    files: number;
  }>;
  /** Logs of every host this stack started, oldest first. */
  logs(): string;
  hostAlive(): boolean;
  /** SIGKILL the host (a crash). */
  kill(): void;
  /** Starts a host again on the same port after kill() or stop. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface Caller {
  name: string;
  id: string;
  key: string;
  client: OpenAI;
}

export async function startReliabilityStack(
  opts: {
    settings?: Record<string, string>;
    emulator?: EmulatorOptions;
    watchBlobs?: boolean;
    storageConnectionString?: string;
    /** The emulator sends Azure OpenAI's webhooks to the app (docs/upstream-webhooks.md). */
    upstreamWebhooks?: boolean;
  } = {},
): Promise<ReliabilityStack> {
  const storageConnectionString = opts.storageConnectionString ?? inject('storageConnectionString');
  const port = await freePort();
  const wiring = opts.upstreamWebhooks ? upstreamWebhookWiring(port) : undefined;
  const emulator = await startEmulator({
    port: 0,
    apiKey: EMULATOR_KEY,
    maxResponses: 50_000,
    ...wiring?.emulator,
    ...opts.emulator,
  });
  const deliveries: Delivery[] = [];
  const receiver: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Delivery['event'];
        deliveries.push({ webhookId: String(req.headers['webhook-id'] ?? ''), event });
        res.writeHead(204).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const webhookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
  const settings: Record<string, string> = {
    ...BASE_SETTINGS,
    AzureWebJobsStorage: storageConnectionString,
    AZURE_OPENAI_ENDPOINT: emulator.url,
    WEBHOOK_SCHEDULE: '*/1 * * * * *',
    PUBLIC_BASE_URL: 'http://127.0.0.1:7071',
    ...wiring?.settings,
    ...opts.settings,
  };
  useTestStorage(storageConnectionString, { AZURE_OPENAI_ENDPOINT: emulator.url });
  const previousLogs: string[] = [];
  // The watcher's state survives a killed host, as `npm start` keeps it: blobs written while the host was down
  // still fire (Event Grid, in Azure, delivers them regardless of the app's state).
  const blobWatchStatePath = join(mkdtempSync(join(tmpdir(), 'reliability-watch-')), 'blob-watch.json');
  const start = () =>
    spawnHost({ port, settings, watchBlobs: opts.watchBlobs, blobWatchIntervalMs: 250, blobWatchStatePath });
  let host: SpawnedHost = await start();
  const hostUrl = `http://127.0.0.1:${port}`;
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${emulator.url}${path}`, {
      method,
      headers: { 'api-key': EMULATOR_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`emulator control ${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const alive = () => host.process.exitCode === null && host.process.signalCode === null;
  return {
    hostUrl: () => hostUrl,
    baseURL: () => `${hostUrl}/api/v1`,
    emulator,
    storageConnectionString,
    settings,
    deliveries,
    webhookUrl,
    async newCaller(prefix = 'rel') {
      const name = `${prefix}-${randomUUID().slice(0, 8)}`;
      const key = await createKey(name);
      knownCallers.push(`key:${name}`);
      await registerWebhook(name, webhookUrl, { allowRequestUrls: true });
      return {
        name,
        id: `key:${name}`,
        key,
        client: new OpenAI({ baseURL: `${hostUrl}/api/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 }),
      };
    },
    async fault(spec) {
      await control('POST', '/_emulator/faults', spec);
    },
    async clearFaults() {
      await control('DELETE', '/_emulator/faults');
    },
    async emulatorStats() {
      return (await (await control('GET', '/_emulator/stats')).json()) as Awaited<
        ReturnType<ReliabilityStack['emulatorStats']>
      >;
    },
    logs: () => [...previousLogs, host.logs()].join('\n'),
    hostAlive: alive,
    kill() {
      host.kill();
    },
    async restart() {
      if (alive()) host.kill();
      await new Promise<void>((r) => (alive() ? host.process.once('exit', () => r()) : r()));
      previousLogs.push(host.logs());
      host = await start();
    },
    async stop() {
      // Kept for a look after the run: every host's output, oldest first.
      const file = join(tmpdir(), `reliability-${process.pid}-${port}.log`);
      writeFileSync(file, [...previousLogs, host.logs()].join('\n'));
      process.stdout.write(`[reliability] host logs: ${file}\n`);
      await host.stop();
      await emulator.close();
      await new Promise<void>((r) => receiver.close(() => r()));
    },
  };
}

/** Host log lines that mean something went wrong that nobody meant to answer: crashes and unmapped errors. */
export function crashLines(logs: string): string[] {
  return logs
    .split('\n')
    .filter((l) =>
      /unexpected error|Unhandled|uncaught|UnhandledPromiseRejection|TypeError|ReferenceError|RangeError|SyntaxError: (?!.*JSON)|Local host failed|Proxying to the worker failed|FATAL/i.test(
        l,
      ),
    );
}

/** Counts keyed by upstream id (as the logs carry them), looked up with the id a caller holds. */
class CountsByHeldId extends Map<string, number> {
  override get(id: string): number | undefined {
    return super.get(upstreamIdOf(id));
  }
}

/** `job.finalized` log lines per response id, across all hosts' logs (look them up with callers' ids). */
export function finalizationsById(logs: string): Map<string, number> {
  const counts = new CountsByHeldId();
  for (const m of logs.matchAll(/"event":"job\.finalized","responseId":"([^"]+)"/g)) {
    counts.set(m[1]!, (counts.get(m[1]!) ?? 0) + 1);
  }
  return counts;
}

/** `poller.tick` stats logged by the timer, across all hosts' logs. */
export function pollerTicks(
  logs: string,
): Array<{ durationMs: number; budgetExhausted: boolean; due: number }> {
  const out: Array<{ durationMs: number; budgetExhausted: boolean; due: number }> = [];
  for (const line of logs.split('\n')) {
    const at = line.indexOf('{"event":"poller.tick"');
    if (at < 0) continue;
    try {
      out.push(JSON.parse(line.slice(at)) as { durationMs: number; budgetExhausted: boolean; due: number });
    } catch {
      // a line cut by a kill
    }
  }
  return out;
}

/** An OpenAI-shaped error body: `{ error: { message, type, param, code } }` with a non-empty message and type. */
export function isOpenAIError(body: unknown): boolean {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.message === 'string' &&
    e.message.length > 0 &&
    typeof e.type === 'string' &&
    'param' in e &&
    'code' in e
  );
}

export interface RawResult {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

/** A request with fetch, the body read whole; `json` is the parsed body when it parses. */
export async function raw(url: string, init: RequestInit = {}): Promise<RawResult> {
  const res = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(90_000) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export interface SseEvent {
  type: string;
  sequence_number?: number;
  code?: string | null;
  message?: string;
  response?: { id: string; status?: string };
  [key: string]: unknown;
}

/** Parses an SSE body into its events (the `data:` JSON of each frame). */
export function sseEvents(text: string): Array<SseEvent> {
  const events: Array<SseEvent> = [];
  for (const frame of text.split('\n\n')) {
    const data = frame
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data) events.push(JSON.parse(data) as SseEvent);
  }
  return events;
}

/** Callers this process created: whose sealed ids `upstreamIdOf` can open. */
const knownCallers: string[] = [];

/**
 * The upstream id behind an id a test's caller holds (the service hands out ids sealed for their caller, and
 * keys its own records by the upstream id). An id no known caller opens is returned as it is.
 */
export function upstreamIdOf(id: string): string {
  for (const callerId of knownCallers) {
    const upstream = openForCaller(callerId, id);
    if (upstream !== undefined) return upstream;
  }
  return id;
}

/** Job rows of `ids` (ids callers hold, or upstream ids), read straight from the jobs table. */
export async function readJobs(ids: Iterable<string>): Promise<Map<string, JobEntity | undefined>> {
  const store = await openJobStore();
  const out = new Map<string, JobEntity | undefined>();
  const list = [...ids];
  for (let i = 0; i < list.length; i += 16) {
    await Promise.all(
      list.slice(i, i + 16).map(async (id) => out.set(id, await readJob(store, upstreamIdOf(id)))),
    );
  }
  return out;
}

/** Waits until every job in `ids` is finalized, up to `timeoutMs`; returns the rows as last read. */
export async function waitForFinalized(
  ids: Iterable<string>,
  timeoutMs: number,
): Promise<Map<string, JobEntity | undefined>> {
  const deadline = Date.now() + timeoutMs;
  let rows = await readJobs(ids);
  while ([...rows.values()].some((j) => j?.phase !== 'finalized') && Date.now() < deadline) {
    await sleep(1000);
    rows = await readJobs(ids);
  }
  return rows;
}

/** Runs `work(i)` for i in [0, n) with at most `concurrency` in flight. */
export async function pool(
  n: number,
  concurrency: number,
  work: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, concurrency) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        await work(i);
      }
    }),
  );
}

/** A one-line record of a suite's figures, printed so `docs/reliability.md` can quote runs. */
export function report(suite: string, figures: Record<string, unknown>): void {
  process.stdout.write(`[reliability:${SCALE}] ${suite} ${JSON.stringify(figures)}\n`);
}

/** Token and request counts, as the ledger and the emulator's billing each add them up. */
export type UsageTotals = BilledTotals;

/** What the emulator billed to `caller` (its safety identifier), responses still running left out. */
export const upstreamUsage = (stack: ReliabilityStack, caller: Caller): Promise<UsageTotals> =>
  billedTotals(stack.emulator.url, caller.id, EMULATOR_KEY);

/** What the gateway's ledger says of `caller`, through its own `GET /api/v1/usage`. */
export async function ledgerUsage(
  stack: ReliabilityStack,
  caller: Caller,
  since: number,
): Promise<UsageTotals> {
  const res = await raw(`${stack.baseURL()}/usage?start_time=${since}&bucket_width=1h&limit=168`, {
    headers: { authorization: `Bearer ${caller.key}` },
  });
  if (res.status !== 200) throw new Error(`GET /usage: ${res.status} ${res.text.slice(0, 300)}`);
  const page = res.json as {
    data: {
      results: {
        num_model_requests: number;
        input_tokens: number;
        input_cached_tokens: number;
        output_tokens: number;
      }[];
    }[];
  };
  const t: UsageTotals = { requests: 0, input: 0, cached: 0, output: 0 };
  for (const bucket of page.data)
    for (const r of bucket.results) {
      t.requests += r.num_model_requests;
      t.input += r.input_tokens;
      t.cached += r.input_cached_tokens;
      t.output += r.output_tokens;
    }
  return t;
}

/**
 * Waits until the ledger and the upstream's billing agree for `caller` (background writes and read-backs land
 * within about a minute), then answers both: equal, or as they still differ at the deadline.
 */
export async function settledUsage(
  stack: ReliabilityStack,
  caller: Caller,
  since: number,
  timeoutMs = 90_000,
): Promise<{ ledger: UsageTotals; upstream: UsageTotals }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [ledger, upstream] = await Promise.all([
      ledgerUsage(stack, caller, since),
      upstreamUsage(stack, caller),
    ]);
    const same = isDeepStrictEqual(ledger, upstream);
    if (same || Date.now() > deadline) return { ledger, upstream };
    await sleep(1000);
  }
}

/** The caller's ledger rows by upstream response id (read from the table, every hour). */
export async function ledgerRows(
  caller: Caller,
): Promise<Map<string, { input: number; cached: number; output: number; requests: number }>> {
  const prefix = `${encodeURIComponent(caller.id)}|`;
  const rows = new Map<string, { input: number; cached: number; output: number; requests: number }>();
  const entities = (await table(storageNames().usage)).listEntities<Record<string, number | string>>({
    queryOptions: { filter: odata`PartitionKey ge ${prefix} and PartitionKey lt ${`${prefix}~`}` },
  });
  for await (const e of entities) {
    rows.set(String(e.rowKey), {
      input: Number(e.inputTokens),
      cached: Number(e.cachedInputTokens),
      output: Number(e.outputTokens),
      requests: Number(e.requests),
    });
  }
  return rows;
}

/** The emulator's billing, response by response (only `caller`'s, by its safety identifier, when given). */
export const upstreamBills = (
  stack: ReliabilityStack,
  caller?: Caller,
): Promise<Map<string, BilledResponse>> => billedResponses(stack.emulator.url, caller?.id, EMULATOR_KEY);

/** Responses on which the ledger and the upstream's billing of `caller` disagree, one line each. */
export async function ledgerDifferences(stack: ReliabilityStack, caller: Caller): Promise<string[]> {
  const [ledger, bills] = await Promise.all([ledgerRows(caller), upstreamBills(stack, caller)]);
  const problems: string[] = [];
  for (const [id, row] of ledger) {
    const bill = bills.get(id);
    const { status, ...billed } = bill ?? { status: 'absent' };
    if (!bill || !isDeepStrictEqual(row, billed))
      problems.push(`${id}: ledger ${JSON.stringify(row)}, upstream ${status} ${JSON.stringify(billed)}`);
  }
  for (const [id, bill] of bills)
    if (!ledger.has(id)) problems.push(`${id}: billed ${JSON.stringify(bill)}, not counted`);
  return problems;
}
