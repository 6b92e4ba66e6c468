/**
 * Scenario 3b: the poller scenario with Azure OpenAI's webhooks on (docs/upstream-webhooks.md).
 *
 * The same workload as scenario 3 (N background responses ending evenly over 5–150 s, tracked with
 * `trackBackgroundJob`, the poller ticking every 5 s in this process as the backstop), but a second emulator is
 * started with `webhookUrl` pointing at a receiver in this process that hands each signed delivery to
 * `handleUpstreamWebhook`, as the `upstream-webhooks` route does. Reported: completion → finalized p50/p99 (target
 * p99 ≤ 2 s), how many jobs the webhook finalized and how many the poller, and the upstream polls it still made.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { odata } from '@azure/data-tables';
import { resetConfigForTests } from '../../shared/platform/config';
import { resetClientsForTests } from '../../shared/platform/clients';
import { ApiError } from '../../shared/platform/errors';
import {
  handleUpstreamWebhook,
  runPollerTick,
  type JobLog,
  type UpstreamEventOutcome,
} from '../../shared/jobs';
import { openJobStore } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import { newWebhookSecret } from '../emulator/webhooks';
import { EMULATOR_KEY, sleep, startEmulatorProcess } from './env';
import { POLL_TICK_MS, SEED_MAX_MS, SEED_MIN_MS, seedJob } from './poller';
import { pool, round, summarize, type Summary } from './stats';

export interface PollerWebhooksResult {
  jobs: number;
  durationsMs: { min: number; max: number };
  /** Completion → finalized, every job. */
  finalizationDelay: Summary;
  /** The same for the jobs that ended after seeding was over (no create traffic competing for Azurite). */
  finalizationDelayAfterSeeding: Summary;
  /** Time `handleUpstreamWebhook` took per delivery. */
  processing: Summary;
  seedSeconds: number;
  targetP99Ms: number;
  finalizedByWebhook: number;
  finalizedByPoller: number;
  /** What each delivery did (one per response, plus retries). */
  outcomes: Partial<Record<UpstreamEventOutcome | 'refused', number>>;
  /** Upstream polls by the poller's ticks, and per second of the scenario (one instance). */
  polls: number;
  pollsPerSecond: number;
  notFinalized: number;
  wallSeconds: number;
}

const quietLog: JobLog = {
  log: () => undefined,
  warn: () => undefined,
  error: (...a: unknown[]) => console.error(...a),
};

/** The `upstream-webhooks` route's work, without the host: raw body in, `handleUpstreamWebhook`, status out. */
function startReceiver(outcomes: PollerWebhooksResult['outcomes'], processing: number[]): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const t0 = performance.now();
      handleUpstreamWebhook(Buffer.concat(chunks).toString('utf8'), headers, quietLog).then(
        (r) => {
          processing.push(performance.now() - t0);
          outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
          res.writeHead(200).end();
        },
        (e: unknown) => {
          outcomes.refused = (outcomes.refused ?? 0) + 1;
          res.writeHead(e instanceof ApiError ? e.status : 500).end();
        },
      );
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function runPollerWebhooks(opts: {
  jobs: number;
  log: (line: string) => void;
}): Promise<PollerWebhooksResult> {
  const started = Date.now();
  const outcomes: PollerWebhooksResult['outcomes'] = {};
  const processing: number[] = [];
  const receiver = await startReceiver(outcomes, processing);
  const secret = newWebhookSecret();
  const emulator = await startEmulatorProcess({
    port: 0,
    apiKey: EMULATOR_KEY,
    latencyMs: 0,
    maxResponses: 50_000,
    webhookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/api/v1/upstream/webhooks`,
    webhookSecret: secret,
  });
  const previousEndpoint = process.env.AZURE_OPENAI_ENDPOINT;
  Object.assign(process.env, {
    AZURE_OPENAI_ENDPOINT: emulator.url,
    UPSTREAM_WEBHOOK_SECRET: secret,
    POLL_INITIAL_DELAY_MS: '1000',
    POLL_MAX_DELAY_MS: '30000',
    POLL_CONCURRENCY: '16',
    POLL_TICK_BUDGET_MS: '20000',
  });
  resetConfigForTests();
  resetClientsForTests();
  const direct = new OpenAI({ baseURL: `${emulator.url}/openai/v1`, apiKey: EMULATOR_KEY, maxRetries: 0 });
  try {
    const caller = { id: 'key:bench-poller-webhooks', source: 'key' as const, name: 'bench-poller-webhooks' };
    const completion = new Map<string, number>();
    let seeding = true;
    let polls = 0;
    let finalizedByPoller = 0;
    const deadline = Date.now() + SEED_MAX_MS + 10 * 60_000;
    const ticking = (async () => {
      while (Date.now() < deadline) {
        await sleep(POLL_TICK_MS - (Date.now() % POLL_TICK_MS));
        const stats = await runPollerTick({ log: quietLog });
        polls += stats.polled;
        finalizedByPoller += stats.finalized;
        if (!seeding && (outcomes.finalized ?? 0) + finalizedByPoller >= opts.jobs) return;
      }
    })();
    await pool(opts.jobs, 32, async (i) => {
      const job = await seedJob(direct, caller, i, opts.jobs);
      completion.set(job.id, job.completesAt);
    });
    seeding = false;
    const seededAt = Date.now();
    await ticking;

    const store = await openJobStore();
    const delays: number[] = [];
    const delaysAfterSeeding: number[] = [];
    let notFinalized = 0;
    const rows = store.jobs.listEntities<JobEntity>({ queryOptions: { filter: odata`RowKey eq 'job'` } });
    for await (const job of rows) {
      const done = completion.get(job.responseId);
      if (done === undefined) continue;
      if (job.phase !== 'finalized') notFinalized++;
      else {
        delays.push(job.updatedAt - done);
        if (done > seededAt) delaysAfterSeeding.push(job.updatedAt - done);
      }
    }
    const wallSeconds = (Date.now() - started) / 1000;
    const result: PollerWebhooksResult = {
      jobs: opts.jobs,
      durationsMs: { min: SEED_MIN_MS, max: SEED_MAX_MS },
      finalizationDelay: summarize(delays),
      finalizationDelayAfterSeeding: summarize(delaysAfterSeeding),
      processing: summarize(processing),
      seedSeconds: round((seededAt - started) / 1000, 1),
      targetP99Ms: 2000,
      finalizedByWebhook: outcomes.finalized ?? 0,
      finalizedByPoller,
      outcomes,
      polls,
      pollsPerSecond: round(polls / wallSeconds, 2),
      notFinalized,
      wallSeconds: round(wallSeconds, 1),
    };
    opts.log(
      `  completion→finalized p50 ${(result.finalizationDelay.p50 / 1000).toFixed(2)} s p99 ${(result.finalizationDelay.p99 / 1000).toFixed(2)} s; ` +
        `${result.finalizedByWebhook} by webhook, ${finalizedByPoller} by the poller (${polls} polls, ${result.pollsPerSecond}/s); ` +
        `${notFinalized} not finalized; deliveries ${JSON.stringify(outcomes)}; after seeding (${result.seedSeconds} s) ` +
        `p50 ${(result.finalizationDelayAfterSeeding.p50 / 1000).toFixed(2)} s p99 ${(result.finalizationDelayAfterSeeding.p99 / 1000).toFixed(2)} s; ` +
        `handling a delivery p50 ${result.processing.p50.toFixed(0)} ms p99 ${result.processing.p99.toFixed(0)} ms`,
    );
    return result;
  } finally {
    await emulator.close().catch(() => undefined);
    await new Promise((r) => receiver.close(r));
    delete process.env.UPSTREAM_WEBHOOK_SECRET;
    if (previousEndpoint !== undefined) process.env.AZURE_OPENAI_ENDPOINT = previousEndpoint;
    resetConfigForTests();
    resetClientsForTests();
  }
}
