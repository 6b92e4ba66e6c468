/**
 * Scenario 1: what the service adds to a non-streaming create and to a retrieve, at concurrency 1 and 32.
 *
 * The same call is made with the official `openai` SDK through the service and straight to the emulator, in
 * alternating blocks (A B B A ...) so drift of a shared machine hits both paths alike. "Added" is the service's
 * percentile minus the direct path's percentile; throughput is requests per second over the blocks' wall time.
 */
import type { InvocationContext } from '@azure/functions';
import type OpenAI from 'openai';
import { createResponse } from '../../shared/responses/create';
import { retrieveResponse } from '../../shared/responses/retrieve';
import { pool, round, summarize, type Summary } from './stats';

export interface PathResult {
  latency: Summary;
  rps: number;
}

export interface OverheadRow {
  op: string;
  concurrency: number;
  direct: PathResult;
  service: PathResult;
  addedP50: number;
  addedP99: number;
  /** service rps / direct rps. */
  throughputRatio: number;
}

type Call = (client: OpenAI, i: number) => Promise<unknown>;

async function measure(
  clients: { direct: OpenAI; service: OpenAI },
  call: Call,
  concurrency: number,
  total: number,
  block: number,
): Promise<{ direct: PathResult; service: PathResult }> {
  const samples = { direct: [] as number[], service: [] as number[] };
  const wall = { direct: 0, service: 0 };
  let i = 0;
  const runBlock = async (path: 'direct' | 'service') => {
    const client = clients[path];
    wall[path] += await pool(block, concurrency, async () => {
      const n = i++;
      const t0 = performance.now();
      await call(client, n);
      samples[path].push(performance.now() - t0);
    });
  };
  // Warm both paths (connections, JIT, caches) before anything is recorded.
  await pool(Math.max(50, concurrency * 4), concurrency, (n) =>
    call(clients.direct, n).then(() => undefined),
  );
  await pool(Math.max(50, concurrency * 4), concurrency, (n) =>
    call(clients.service, n).then(() => undefined),
  );
  const rounds = Math.max(1, Math.ceil(total / block));
  for (let r = 0; r < rounds; r++) {
    const order: Array<'direct' | 'service'> = r % 2 === 0 ? ['direct', 'service'] : ['service', 'direct'];
    for (const path of order) await runBlock(path);
  }
  const result = (path: 'direct' | 'service'): PathResult => ({
    latency: summarize(samples[path]),
    rps: (samples[path].length / wall[path]) * 1000,
  });
  return { direct: result('direct'), service: result('service') };
}

const CREATE_BODY = { model: 'gpt-4.1', input: 'Say hello.' } as const;

export interface OverheadOptions {
  direct: OpenAI;
  service: OpenAI;
  /** Requests per path at concurrency 1 and 32. */
  totals: { c1: number; c32: number };
  log: (line: string) => void;
}

export async function runOverhead(opts: OverheadOptions): Promise<OverheadRow[]> {
  const clients = { direct: opts.direct, service: opts.service };
  // Responses to retrieve on each path: the service hands out ids sealed for the benchmark's caller, the
  // emulator its own, so each path retrieves ids it created.
  const serviceIds: string[] = [];
  const directIds: string[] = [];
  await pool(200, 16, async () => {
    serviceIds.push((await opts.service.responses.create(CREATE_BODY)).id);
    directIds.push((await opts.direct.responses.create(CREATE_BODY)).id);
  });
  const idsFor = (client: OpenAI) => (client === opts.direct ? directIds : serviceIds);

  const ops: Array<{ op: string; call: Call }> = [
    { op: 'create (non-streaming)', call: (client) => client.responses.create(CREATE_BODY) },
    {
      op: 'retrieve',
      call: (client, i) => client.responses.retrieve(idsFor(client)[i % idsFor(client).length]!),
    },
  ];
  const rows: OverheadRow[] = [];
  for (const { op, call } of ops) {
    for (const concurrency of [1, 32]) {
      const total = concurrency === 1 ? opts.totals.c1 : opts.totals.c32;
      const block = concurrency === 1 ? 100 : 320;
      const { direct, service } = await measure(clients, call, concurrency, total, block);
      const row: OverheadRow = {
        op,
        concurrency,
        direct,
        service,
        addedP50: round(service.latency.p50 - direct.latency.p50, 3),
        addedP99: round(service.latency.p99 - direct.latency.p99, 3),
        throughputRatio: round(service.rps / direct.rps, 3),
      };
      opts.log(
        `  ${op} c=${concurrency}: direct p50 ${direct.latency.p50.toFixed(2)} p99 ${direct.latency.p99.toFixed(2)} | ` +
          `service p50 ${service.latency.p50.toFixed(2)} p99 ${service.latency.p99.toFixed(2)} | ` +
          `added p50 ${row.addedP50} p99 ${row.addedP99} ms | throughput ${row.throughputRatio}x`,
      );
      rows.push(row);
    }
  }
  return rows;
}

export interface FloorResult {
  /** A request the service answers without storage or upstream I/O (authenticated 400 on a malformed id). */
  service: Summary;
  /** A request the emulator answers without work (404 on an unknown id). */
  direct: Summary;
  added: number;
}

/**
 * Diagnostic: the cost of crossing the host and the library's HTTP proxy alone. Both requests are answered
 * from memory, so the difference is the service's fixed per-request cost, before any storage or upstream call.
 */
export async function measureFloor(direct: OpenAI, service: OpenAI, n: number): Promise<FloorResult> {
  const run = async (client: OpenAI, id: string) => {
    const out: number[] = [];
    await pool(n, 1, async () => {
      const t0 = performance.now();
      await client.responses.retrieve(id).catch(() => undefined);
      out.push(performance.now() - t0);
    });
    return out;
  };
  await run(direct, 'resp_missing');
  await run(service, 'not!an!id');
  const d = summarize(await run(direct, 'resp_missing'));
  const s = summarize(await run(service, 'not!an!id'));
  return { service: s, direct: d, added: round(s.p50 - d.p50, 3) };
}

export interface InProcessResult {
  /** The service's create path (validation, upstream create, ownership record) called in this process. */
  create: Summary;
  /** The service's retrieve path of a synchronous response (ownership check, upstream retrieve). */
  retrieve: Summary;
  /** The same SDK calls straight to the emulator, interleaved. */
  directCreate: Summary;
  directRetrieve: Summary;
  addedCreate: number;
  addedRetrieve: number;
}

/**
 * Diagnostic: the service's own work without the Functions host in front, i.e. `shared/responses/create.ts`
 * called in this process against the same emulator and Azurite. What the full path adds beyond this is the
 * host and the library's HTTP proxy.
 */
export async function measureInProcess(direct: OpenAI, n: number): Promise<InProcessResult> {
  const caller = { id: 'key:bench-inprocess', source: 'key' as const, name: 'bench-inprocess' };
  const context = {
    log: () => undefined,
    warn: () => undefined,
    error: () => undefined,
  } as unknown as InvocationContext;
  const s = { create: [] as number[], retrieve: [] as number[], dc: [] as number[], dr: [] as number[] };
  for (let i = 0; i < n + 50; i++) {
    let t = performance.now();
    const signal = new AbortController().signal;
    const result = await createResponse({ caller, context, signal }, { ...CREATE_BODY });
    if (!('response' in result)) throw new Error('expected a JSON create');
    const last = result.response.id;
    const c = performance.now() - t;
    t = performance.now();
    await retrieveResponse(caller, last, []);
    const r = performance.now() - t;
    t = performance.now();
    const directId = (await direct.responses.create(CREATE_BODY)).id;
    const dc = performance.now() - t;
    t = performance.now();
    await direct.responses.retrieve(directId);
    const dr = performance.now() - t;
    if (i < 50) continue;
    s.create.push(c);
    s.retrieve.push(r);
    s.dc.push(dc);
    s.dr.push(dr);
  }
  const create = summarize(s.create);
  const retrieve = summarize(s.retrieve);
  const directCreate = summarize(s.dc);
  const directRetrieve = summarize(s.dr);
  return {
    create,
    retrieve,
    directCreate,
    directRetrieve,
    addedCreate: round(create.p50 - directCreate.p50, 3),
    addedRetrieve: round(retrieve.p50 - directRetrieve.p50, 3),
  };
}

/** Diagnostic: a POST the host answers without I/O (a 400 on a body that is not JSON) vs the emulator's 404. */
export async function measurePostFloor(
  direct: OpenAI,
  serviceBase: string,
  key: string,
  n: number,
): Promise<FloorResult> {
  const run = async (f: () => Promise<unknown>) => {
    const out: number[] = [];
    await pool(n, 1, async () => {
      const t0 = performance.now();
      await f();
      out.push(performance.now() - t0);
    });
    return out;
  };
  const post = () =>
    fetch(`${serviceBase}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: '{"input": not json}',
    }).then((r) => r.arrayBuffer());
  const miss = () => direct.responses.retrieve('resp_missing').catch(() => undefined);
  await run(post);
  const s = summarize(await run(post));
  const d = summarize(await run(miss));
  return { service: s, direct: d, added: round(s.p50 - d.p50, 3) };
}
