/**
 * Part of scenario 3: what one job costs in table round trips at each step of its life, measured alone so that no
 * other job shares a tick or a transaction with it, and how many round trips the due index's group commit makes
 * of writes that arrive together. These are figures to watch over time, not pass/fail checks: the integration
 * tests assert behaviour (rows, statuses), the benchmark reports costs.
 *
 * Runs in a jobs table of its own, so the scenario's thousands of jobs never meet these ticks' far-ahead clocks.
 */
import type OpenAI from 'openai';
import { getConfig } from '../../shared/platform/config';
import { runPollerTick, trackBackgroundJob, type JobLog, type PollerTickStats } from '../../shared/jobs';
import { storageNames, useStorageNamesForTests } from '../../shared/platform/storage-names';
import { newMeter } from '../../shared/platform/scheduling/due-index';
import { openJobStore } from '../../shared/jobs/store';
import { sleep } from './env';
import { round } from './stats';

/** Table round trips of one tick (index writes batched with other writers count as a share of one). */
export interface StepCost {
  queries: number;
  reads: number;
  writes: number;
}

export interface PollerStepCosts {
  /** A poll that finds the status changed (queued → in_progress): job row, listing row and index move. */
  statusChange: StepCost;
  /** A poll that finds the job still running with the same status: read, index move, claim. */
  samePoll: StepCost;
  /** The poll that sees the end, and the finalization that follows in the same tick. */
  finalization: StepCost;
  /** `moves` index moves started at once (as that many polls in flight make them) and their write round trips. */
  dueIndex: { moves: number; writeRoundTrips: number };
}

const quietLog: JobLog = {
  log: () => undefined,
  warn: () => undefined,
  error: (...a: unknown[]) => console.error(...a),
};

const cost = (s: PollerTickStats): StepCost => ({
  queries: s.tableQueries,
  reads: s.tableReads,
  writes: round(s.tableWrites, 2),
});

function expectStep(what: string, stats: PollerTickStats, field: 'rescheduled' | 'finalized'): void {
  if (stats.due !== 1 || stats[field] !== 1) {
    throw new Error(
      `poller step costs: the ${what} tick did not do what it measures: ${JSON.stringify(stats)}`,
    );
  }
}

export async function measureStepCosts(
  direct: OpenAI,
  log: (line: string) => void,
): Promise<PollerStepCosts> {
  const previous = { ...storageNames() };
  useStorageNamesForTests({ ...previous, jobs: `benchsteps${Date.now().toString(36)}` });
  try {
    const caller = { id: 'key:bench-steps', source: 'key' as const, name: 'bench-steps' };
    const response = await direct.responses.create({
      model: 'gpt-4.1',
      input: 'ok',
      background: true,
      metadata: { emulator_duration_ms: '3000' },
    });
    await trackBackgroundJob({ caller, response, kind: 'response', deployment: 'gpt-4.1' });
    // Each tick's clock is past any next poll the previous tick can have scheduled.
    const step = getConfig().pollMaxDelayMs + 1_000;
    let clock = Date.now();
    const tick = () => {
      clock = Math.max(clock, Date.now()) + step;
      return runPollerTick({ log: quietLog, now: clock });
    };

    await sleep(1_000); // past 20 % of its 3 s: in_progress upstream
    const changed = await tick();
    expectStep('status change', changed, 'rescheduled');
    const same = await tick();
    expectStep('same-status', same, 'rescheduled');
    while ((await direct.responses.retrieve(response.id)).status !== 'completed') await sleep(200);
    const ended = await tick();
    expectStep('finalization', ended, 'finalized');

    const moves = 40;
    const store = await openJobStore(newMeter());
    const rows = await Promise.all(
      Array.from({ length: moves }, (_, i) => store.due.add(1_000 + i, `resp_bench_${i}`, 1)),
    );
    const before = store.meter.tableWrites;
    await Promise.all(rows.map((old, i) => store.due.add(9_000 + i, `resp_bench_${i}`, 2, [old])));
    const result: PollerStepCosts = {
      statusChange: cost(changed),
      samePoll: cost(same),
      finalization: cost(ended),
      dueIndex: { moves, writeRoundTrips: round(store.meter.tableWrites - before, 2) },
    };
    const show = (c: StepCost) => `${c.queries} queries, ${c.reads} reads, ${c.writes} writes`;
    log(
      `  one job alone: status-change poll ${show(result.statusChange)}; same-status poll ${show(result.samePoll)}; ` +
        `finalizing tick ${show(result.finalization)}; ${moves} index moves at once: ${result.dueIndex.writeRoundTrips} write round trips`,
    );
    return result;
  } finally {
    useStorageNamesForTests(previous);
  }
}
