/**
 * Scenario 2: the streaming relay.
 *
 * - Time to first event: `responses.create({ stream: true })` with the official SDK through the service and
 *   straight to the emulator, alternating; added = service p50 − direct p50 (and p99).
 * - Per-event delay: a stream is created through the service; as soon as its `response.created` arrives, a
 *   second reader attaches to the same response straight at the emulator (`GET ?stream=true&starting_after=0`).
 *   The emulator writes each event to both connections in the same tick, so for every `sequence_number` the
 *   arrival through the service minus the arrival on the direct connection is the time the event spent in the
 *   service. Events are 20 ms apart (emulator `streamEventDelayMs`), so every network read holds one event
 *   unless something batches them; reads holding more than one event are counted.
 */
import http from 'node:http';
import type OpenAI from 'openai';
import { pool, round, summarize, type Summary } from './stats';
import { openForCaller } from '../../shared/platform/caller-ids';

interface Arrival {
  seq: number;
  type: string;
  t: number;
  /** Index of the network read that delivered it. */
  read: number;
}

interface StreamRead {
  arrivals: Arrival[];
  reads: number;
  status: number;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** Reads an SSE answer, stamping each event with the time its network read arrived. */
function readSse(
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string },
  onEvent?: (event: { sequence_number: number; type: string; response?: { id: string } }) => void,
): Promise<StreamRead> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent }, (res) => {
      const arrivals: Arrival[] = [];
      let buffer = '';
      let reads = 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const t = performance.now();
        const read = reads++;
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          if (!data) continue;
          const event = JSON.parse(data) as {
            sequence_number: number;
            type: string;
            response?: { id: string };
          };
          arrivals.push({ seq: event.sequence_number, type: event.type, t, read });
          onEvent?.(event);
        }
      });
      res.on('end', () => resolve({ arrivals, reads, status: res.statusCode ?? 0 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export interface StreamingResult {
  ttfb: { direct: Summary; service: Summary; addedP50: number; addedP99: number };
  perEvent: Array<{
    concurrency: number;
    streams: number;
    events: number;
    delay: Summary;
    /** Network reads through the service that carried more than one event. */
    batchedReads: number;
    directBatchedReads: number;
  }>;
  eventsPerStream: number;
}

export interface StreamingOptions {
  direct: OpenAI;
  service: OpenAI;
  serviceBase: string;
  serviceKey: string;
  /** The caller behind `serviceKey`: the service's ids are sealed for it, the emulator knows the upstream ids. */
  serviceCallerId: string;
  emulatorBase: string;
  streams: number;
  log: (line: string) => void;
}

const BODY = { model: 'gpt-4.1', input: 'Write a short poem about the sea, please.', stream: true as const };

async function firstEventMs(client: OpenAI): Promise<number> {
  const t0 = performance.now();
  const stream = await client.responses.create(BODY);
  let first = NaN;
  for await (const event of stream) {
    if (Number.isNaN(first)) first = performance.now() - t0;
    void event;
  }
  return first;
}

export async function runStreaming(opts: StreamingOptions): Promise<StreamingResult> {
  // Time to first event, SDK on both paths, alternating blocks.
  const ttfb = { direct: [] as number[], service: [] as number[] };
  await firstEventMs(opts.direct);
  await firstEventMs(opts.service);
  const block = 10;
  for (let r = 0; r * block < opts.streams; r++) {
    const order = r % 2 === 0 ? (['direct', 'service'] as const) : (['service', 'direct'] as const);
    for (const path of order) {
      await pool(block, 1, async () => {
        ttfb[path].push(await firstEventMs(opts[path]));
      });
    }
  }
  const d = summarize(ttfb.direct);
  const s = summarize(ttfb.service);
  const ttfbResult = {
    direct: d,
    service: s,
    addedP50: round(s.p50 - d.p50, 3),
    addedP99: round(s.p99 - d.p99, 3),
  };
  opts.log(
    `  first event: direct p50 ${d.p50.toFixed(2)} p99 ${d.p99.toFixed(2)} | service p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} | added p50 ${ttfbResult.addedP50} p99 ${ttfbResult.addedP99} ms`,
  );

  // Per-event delay: the same events read through the service and straight from the emulator.
  const perEvent: StreamingResult['perEvent'] = [];
  let eventsPerStream = 0;
  for (const concurrency of [1, 32]) {
    const delays: number[] = [];
    let batched = 0;
    let directBatched = 0;
    let streams = 0;
    const n = concurrency === 1 ? opts.streams : Math.max(64, opts.streams);
    await pool(n, concurrency, async () => {
      let twin: Promise<StreamRead> | undefined;
      const via = await readSse(
        `${opts.serviceBase}/responses`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${opts.serviceKey}`, 'content-type': 'application/json' },
          // Background, so that the same response can be read again straight from the emulator (only background
          // streams can be resumed, as on Azure OpenAI).
          body: JSON.stringify({ ...BODY, background: true }),
        },
        (event) => {
          if (event.sequence_number === 0 && event.response) {
            const upstreamId = openForCaller(opts.serviceCallerId, event.response.id) ?? event.response.id;
            twin = readSse(`${opts.emulatorBase}/responses/${upstreamId}?stream=true&starting_after=0`, {
              method: 'GET',
              headers: { 'api-key': 'emulator-key' },
            });
          }
        },
      );
      if (!twin)
        throw new Error(`the stream through the service had no response.created (status ${via.status})`);
      const straight = await twin;
      streams++;
      eventsPerStream = Math.max(eventsPerStream, via.arrivals.length);
      const directAt = new Map(straight.arrivals.map((a) => [a.seq, a.t]));
      // Seq 1 may have been emitted before the direct reader attached (then it is replayed, not live).
      for (const a of via.arrivals) {
        const t = directAt.get(a.seq);
        if (a.seq >= 2 && t !== undefined) delays.push(a.t - t);
      }
      const perRead = (arrivals: Arrival[]) => {
        const counts = new Map<number, number>();
        for (const a of arrivals) if (a.seq >= 2) counts.set(a.read, (counts.get(a.read) ?? 0) + 1);
        return [...counts.values()].filter((c) => c > 1).length;
      };
      batched += perRead(via.arrivals);
      directBatched += perRead(straight.arrivals);
    });
    const delay = summarize(delays);
    perEvent.push({
      concurrency,
      streams,
      events: delays.length,
      delay,
      batchedReads: batched,
      directBatchedReads: directBatched,
    });
    opts.log(
      `  per-event delay c=${concurrency}: p50 ${delay.p50.toFixed(3)} p99 ${delay.p99.toFixed(3)} max ${delay.max.toFixed(3)} ms over ${delays.length} events; reads with >1 event: service ${batched}, direct ${directBatched}`,
    );
  }
  return { ttfb: ttfbResult, perEvent, eventsPerStream };
}
