/**
 * Scenario 3: the background poller with many jobs in flight.
 *
 * N background responses are created straight at the emulator, each told (metadata `emulator_duration_ms`) to
 * finish at its own time, and tracked through the jobs module's API (`trackBackgroundJob`) against Azurite, as
 * a create through the service would. `runPollerTick` is then driven in this process on the production
 * schedule (a tick every POLL_TICK_MS, the next one on the first schedule point after the previous ended, as a
 * singleton timer does) until every job is finalized.
 *
 * Reported: the cost of a tick when nothing is due (with all N jobs in flight), upstream calls per job against
 * the backoff schedule's minimum for that job's duration, the delay from upstream completion to finalization,
 * the table round trips of every tick, and (poller-steps.ts) those of one job's steps measured alone.
 */
import type OpenAI from 'openai';
import { odata } from '@azure/data-tables';
import { resetConfigForTests, getConfig } from '../../shared/platform/config';
import { resetClientsForTests } from '../../shared/platform/clients';
import { runPollerTick, trackBackgroundJob, type JobLog, type PollerTickStats } from '../../shared/jobs';
import { openJobStore } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import { sleep } from './env';
import { measureStepCosts, type PollerStepCosts } from './poller-steps';
import { pool, round, summarize, type Summary } from './stats';

export const POLL_TICK_MS = 5_000;

export interface PollerResult {
  jobs: number;
  settings: {
    initialDelayMs: number;
    maxDelayMs: number;
    tickMs: number;
    concurrency: number;
    budgetMs: number;
    /** DUE_INDEX_PARTITIONS (absent in results recorded before the index was spread: one partition). */
    duePartitions?: number;
  };
  durationsMs: { min: number; max: number };
  seedSeconds: number;
  idleTick: {
    inFlight: number;
    tableQueries: number;
    tableReads: number;
    /** Absent in results recorded before it was reported. */
    tableWrites?: number;
    upstreamCalls: number;
    durationMs: number;
  };
  idleTickAfter: { tableQueries: number; upstreamCalls: number; durationMs: number };
  ticks: number;
  busiestTick: { due: number; durationMs: number; budgetExhausted: boolean };
  budgetExhaustedTicks: number;
  upstreamCalls: number;
  /** Table round trips of every tick (index writes batched together count as one, shared out). */
  storage: { queries: number; reads: number; writes: number; perUpstreamCall: number };
  /** Round trips of one job's steps, measured alone (absent in results recorded before it was reported). */
  steps?: PollerStepCosts;
  minimumCalls: number;
  callsPerJob: number;
  minimumPerJob: number;
  callsRatio: number;
  finalizationDelay: Summary;
  targetDelayMs: number;
  notFinalized: number;
  finalizedTwice: number;
  errors: number;
  wallSeconds: number;
}

/** Upstream polls the backoff schedule needs (no jitter, polls exactly on time) to see a job of `durationMs` end. */
/** Job durations are spread evenly over [5 s, 150 s]: many end while still in the doubling phase, many at the cap. */
export const SEED_MIN_MS = 5_000;
export const SEED_MAX_MS = 150_000;

/**
 * Creates the i-th of `jobs` background responses straight at the emulator, told to finish after its place in
 * the spread of durations, and tracks it as a create through the service would.
 */
export async function seedJob(
  direct: OpenAI,
  caller: { id: string; source: 'key'; name: string },
  i: number,
  jobs: number,
): Promise<{ id: string; ms: number; completesAt: number }> {
  const ms = Math.round(SEED_MIN_MS + ((SEED_MAX_MS - SEED_MIN_MS) * ((i * 7919) % jobs)) / jobs);
  const before = Date.now();
  const response = await direct.responses.create({
    model: 'gpt-4.1',
    input: 'ok',
    background: true,
    metadata: { emulator_duration_ms: String(ms) },
  });
  await trackBackgroundJob({ caller, response, kind: 'response', deployment: 'gpt-4.1' });
  return { id: response.id, ms, completesAt: before + ms };
}

export function minimumPolls(durationMs: number, initialMs: number, maxMs: number): number {
  let t = 0;
  for (let k = 0; k < 10_000; k++) {
    t += Math.min(maxMs, initialMs * 2 ** Math.min(k, 30));
    if (t >= durationMs) return k + 1;
  }
  return 10_000;
}

const quietLog: JobLog = {
  log: () => undefined,
  warn: () => undefined,
  error: (...a: unknown[]) => console.error(...a),
};

export async function runPoller(opts: {
  direct: OpenAI;
  jobs: number;
  emulatorUrl: string;
  log: (line: string) => void;
}): Promise<PollerResult> {
  const settings = {
    POLL_INITIAL_DELAY_MS: '1000',
    POLL_MAX_DELAY_MS: '30000',
    POLL_CONCURRENCY: '16',
    POLL_TICK_BUDGET_MS: '20000',
  };
  Object.assign(process.env, settings);
  resetConfigForTests();
  resetClientsForTests();
  const config = getConfig();
  const initial = config.pollInitialDelayMs;
  const cap = config.pollMaxDelayMs;
  const started = Date.now();
  const steps = await measureStepCosts(opts.direct, opts.log);

  const caller = { id: 'key:bench-poller', source: 'key' as const, name: 'bench-poller' };
  const completion = new Map<string, number>();
  const duration = new Map<string, number>();
  let seeded = 0;
  const seedStarted = Date.now();
  const ticks: PollerTickStats[] = [];
  let upstreamCalls = 0;
  const storage = { queries: 0, reads: 0, writes: 0 };
  let errors = 0;
  let finalized = 0;
  let seeding = true;
  // The poller runs from the start, as it does while callers create jobs: a job's completion→finalization
  // delay must not include time it spent waiting for the rest of the seeding.
  // Bounded: a poller that falls far behind is reported with what it did not finalize, not waited for forever.
  const deadline = Date.now() + SEED_MAX_MS + 4 * cap + 25 * 60_000;
  const tickLoop = (async () => {
    while ((seeding || finalized < opts.jobs) && Date.now() < deadline) {
      await sleep(POLL_TICK_MS - (Date.now() % POLL_TICK_MS));
      const stats = await runPollerTick({ log: quietLog });
      ticks.push(stats);
      upstreamCalls += stats.upstreamCalls;
      storage.queries += stats.tableQueries;
      storage.reads += stats.tableReads;
      storage.writes += stats.tableWrites;
      errors += stats.errors;
      finalized += stats.finalized;
      if (ticks.length % 12 === 0)
        opts.log(
          `  t+${Math.round((Date.now() - seedStarted) / 1000)} s: ${seeded} seeded, ${finalized} finalized, last tick due ${stats.due} in ${stats.durationMs} ms`,
        );
    }
  })();
  await pool(opts.jobs, 32, async (i) => {
    const job = await seedJob(opts.direct, caller, i, opts.jobs);
    completion.set(job.id, job.completesAt);
    duration.set(job.id, job.ms);
    seeded++;
  });
  seeding = false;
  const seedSeconds = (Date.now() - seedStarted) / 1000;

  // A tick with nothing due while the jobs are in flight: its clock is set before any job's next poll.
  const idle = await runPollerTick({ now: seedStarted - 60_000, log: quietLog });
  const inFlight = opts.jobs - finalized;
  opts.log(
    `  idle tick with ${inFlight} in flight: ${idle.tableQueries} query, ${idle.tableReads} reads, ${idle.tableWrites} writes, ${idle.upstreamCalls} upstream calls, ${idle.durationMs} ms`,
  );
  await tickLoop;
  const idleAfter = await runPollerTick({ log: quietLog });

  // What happened to each job, from its row.
  const store = await openJobStore();
  const delays: number[] = [];
  let notFinalized = 0;
  let minimumCalls = 0;
  const rows = store.jobs.listEntities<JobEntity>({ queryOptions: { filter: odata`RowKey eq 'job'` } });
  for await (const job of rows) {
    const done = completion.get(job.responseId);
    if (done === undefined) continue;
    minimumCalls += minimumPolls(duration.get(job.responseId)!, initial, cap);
    if (job.phase !== 'finalized') {
      notFinalized++;
      continue;
    }
    delays.push(job.updatedAt - done);
  }
  const busiest = ticks.reduce((a, b) => (b.durationMs > a.durationMs ? b : a), ticks[0]!);
  const result: PollerResult = {
    jobs: opts.jobs,
    settings: {
      initialDelayMs: initial,
      maxDelayMs: cap,
      tickMs: POLL_TICK_MS,
      concurrency: config.pollConcurrency,
      budgetMs: config.pollTickBudgetMs,
      duePartitions: config.dueIndexPartitions,
    },
    durationsMs: { min: SEED_MIN_MS, max: SEED_MAX_MS },
    seedSeconds: round(seedSeconds, 1),
    idleTick: {
      inFlight,
      tableQueries: idle.tableQueries,
      tableReads: idle.tableReads,
      tableWrites: idle.tableWrites,
      upstreamCalls: idle.upstreamCalls,
      durationMs: idle.durationMs,
    },
    idleTickAfter: {
      tableQueries: idleAfter.tableQueries,
      upstreamCalls: idleAfter.upstreamCalls,
      durationMs: idleAfter.durationMs,
    },
    ticks: ticks.length,
    busiestTick: busiest
      ? { due: busiest.due, durationMs: busiest.durationMs, budgetExhausted: busiest.budgetExhausted }
      : { due: 0, durationMs: 0, budgetExhausted: false },
    budgetExhaustedTicks: ticks.filter((t) => t.budgetExhausted).length,
    upstreamCalls,
    storage: {
      queries: storage.queries,
      reads: storage.reads,
      writes: Math.round(storage.writes),
      perUpstreamCall: round(
        (storage.queries + storage.reads + storage.writes) / Math.max(1, upstreamCalls),
        2,
      ),
    },
    steps,
    minimumCalls,
    callsPerJob: round(upstreamCalls / opts.jobs, 3),
    minimumPerJob: round(minimumCalls / opts.jobs, 3),
    callsRatio: round(upstreamCalls / minimumCalls, 3),
    finalizationDelay: summarize(delays),
    targetDelayMs: cap + POLL_TICK_MS,
    notFinalized,
    finalizedTwice: Math.max(0, finalized - (opts.jobs - notFinalized)),
    errors,
    wallSeconds: round((Date.now() - started) / 1000, 1),
  };
  opts.log(
    `  upstream calls/job ${result.callsPerJob} vs schedule minimum ${result.minimumPerJob} (${result.callsRatio}x); ` +
      `completion→finalized p50 ${(result.finalizationDelay.p50 / 1000).toFixed(2)} s p99 ${(result.finalizationDelay.p99 / 1000).toFixed(2)} s; ` +
      `${notFinalized} not finalized, ${errors} errors, ${result.budgetExhaustedTicks} ticks over budget`,
  );
  opts.log(
    `  table round trips: ${storage.queries} queries, ${storage.reads} reads, ${Math.round(storage.writes)} writes ` +
      `(${result.storage.perUpstreamCall} per upstream call); busiest tick: ${result.busiestTick.due} due in ${result.busiestTick.durationMs} ms`,
  );
  return result;
}
