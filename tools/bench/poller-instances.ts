/**
 * Scenario 3, scaled out: the poller as it runs in Azure, the timer selecting and the queue trigger polling, with
 * 1, 2 and 3 host instances (`--poller-instances 1,2,3`) sharing the bench's Azurite and emulator, as
 * `npm start -- --instances N` runs them.
 *
 * Each run seeds N background responses straight at the emulator, each told to finish at its own time (spread
 * over [5 s, 150 s] as in poller.ts), tracks them as a create through the service would, and leaves the rest to
 * the hosts: every host fires the timer (POLL_SCHEDULE every 5 s) and runs the `poll-work` queue trigger.
 *
 * Reported per run: completion → finalized p50/p99 (from the job rows), upstream polls, and queue messages run per
 * second by each host. On a machine with fewer cores than hosts, scale-out shows as spread work, not speed.
 */
import type OpenAI from 'openai';
import { odata } from '@azure/data-tables';
import { openJobStore } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import { sleep, startHost, EMULATOR_KEY, type Host } from './env';
import { SEED_MAX_MS, SEED_MIN_MS, seedJob } from './poller';
import { pool, round, summarize, type Summary } from './stats';

export interface PollerInstancesRun {
  instances: number;
  jobs: number;
  finalizationDelay: Summary;
  notFinalized: number;
  upstreamPolls: number;
  /** Queue messages (claimed polls) each host ran, per second of the run. */
  messagesPerSecondPerInstance: number[];
  wallSeconds: number;
}

export interface PollerInstancesResult {
  jobs: number;
  durationsMs: { min: number; max: number };
  settings: Record<string, string>;
  runs: PollerInstancesRun[];
}

const SETTINGS = {
  'AzureWebJobs.poll-background-queue.Disabled': 'false',
  POLL_SCHEDULE: '*/5 * * * * *',
  POLL_INITIAL_DELAY_MS: '1000',
  POLL_MAX_DELAY_MS: '30000',
  POLL_CONCURRENCY: '16',
  POLL_TICK_BUDGET_MS: '20000',
};

async function upstreamPolls(emulatorUrl: string): Promise<number> {
  const res = await fetch(`${emulatorUrl}/_emulator/stats`, { headers: { 'api-key': EMULATOR_KEY } });
  return ((await res.json()) as { requests: Record<string, number> }).requests['GET /responses/{id}'] ?? 0;
}

export async function runPollerInstances(opts: {
  direct: OpenAI;
  jobs: number;
  instances: number[];
  settings: Record<string, string>;
  emulatorUrl: string;
  log: (line: string) => void;
}): Promise<PollerInstancesResult> {
  const runs: PollerInstancesRun[] = [];
  for (const n of opts.instances) {
    opts.log(`  ${n} instance(s), ${opts.jobs} jobs`);
    const hosts: Host[] = [];
    try {
      for (let i = 0; i < n; i++) {
        hosts.push(
          await startHost(
            { ...opts.settings, ...SETTINGS },
            { count: /Executed 'Functions\.poll-background-queue'/ },
          ),
        );
      }
      const caller = { id: `key:bench-instances-${n}`, source: 'key' as const, name: `bench-instances-${n}` };
      const completion = new Map<string, number>();
      const pollsBefore = await upstreamPolls(opts.emulatorUrl);
      const started = Date.now();
      await pool(opts.jobs, 32, async (i) => {
        const job = await seedJob(opts.direct, caller, i, opts.jobs);
        completion.set(job.id, job.completesAt);
      });
      opts.log(`    seeded in ${round((Date.now() - started) / 1000, 1)} s`);

      const store = await openJobStore();
      const deadline = Date.now() + SEED_MAX_MS + 20 * 60_000;
      const delays: number[] = [];
      let notFinalized = opts.jobs;
      while (Date.now() < deadline) {
        await sleep(5_000);
        delays.length = 0;
        notFinalized = 0;
        const rows = store.jobs.listEntities<JobEntity>({
          queryOptions: { filter: odata`RowKey eq 'job' and callerId eq ${caller.id}` },
        });
        for await (const job of rows) {
          const done = completion.get(job.responseId);
          if (done === undefined) continue;
          if (job.phase === 'finalized') delays.push(job.updatedAt - done);
          else notFinalized++;
        }
        opts.log(
          `    t+${Math.round((Date.now() - started) / 1000)} s: ${delays.length} finalized, ${notFinalized} to go; queue messages per host ${hosts.map((h) => h.counted()).join('/')}`,
        );
        if (notFinalized === 0 && delays.length >= completion.size) break;
      }
      const seconds = (Date.now() - started) / 1000;
      const run: PollerInstancesRun = {
        instances: n,
        jobs: opts.jobs,
        finalizationDelay: summarize(delays),
        notFinalized,
        upstreamPolls: (await upstreamPolls(opts.emulatorUrl)) - pollsBefore,
        messagesPerSecondPerInstance: hosts.map((h) => round(h.counted() / seconds, 1)),
        wallSeconds: round(seconds, 1),
      };
      runs.push(run);
      opts.log(
        `    completion→finalized p50 ${(run.finalizationDelay.p50 / 1000).toFixed(2)} s p99 ${(run.finalizationDelay.p99 / 1000).toFixed(2)} s; ` +
          `${run.upstreamPolls} upstream polls; messages/s per host ${run.messagesPerSecondPerInstance.join(', ')}; ${notFinalized} not finalized`,
      );
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  }
  return { jobs: opts.jobs, durationsMs: { min: SEED_MIN_MS, max: SEED_MAX_MS }, settings: SETTINGS, runs };
}
