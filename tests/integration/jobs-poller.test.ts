import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TableTransaction } from '@azure/data-tables';
import {
  listJobs,
  recordCancel,
  registerJobFinalizer,
  runPollerTick,
  terminalResponseFromJob,
  trackBackgroundJob,
  deleteJob,
  type FinalizerContext,
  type PollerTickStats,
} from '../../shared/jobs';
import { getOpenAI } from '../../shared/platform/clients';
import { unregisterJobFinalizer } from '../../shared/jobs/finalizers';
import { useStorageNamesForTests } from '../../shared/platform/storage-names';
import { DUE_PARTITION, dueKey } from '../../shared/platform/scheduling/due-index';
import { JOB_ROW, openJobStore, readJob, readResponseJson, toJobView } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import { getDelivery } from '../../shared/webhooks/delivery';
import { eventId } from '../../shared/webhooks/events';
import { dueKeysIn, sleep, startJobsEnv, until, type JobsEnv } from './support/jobs-env';

let env: JobsEnv;

beforeAll(async () => {
  env = await startJobsEnv();
});

afterAll(async () => {
  await env.close();
});

afterEach(async () => {
  unregisterJobFinalizer('response');
  // An injected fault a failing test did not use up must not hit the next test's upstream call.
  await env?.clearFaults();
});

async function job(id: string): Promise<JobEntity | undefined> {
  return readJob(await openJobStore(), id);
}

async function track(metadata: Record<string, string> = {}) {
  const response = await env.createBackground(metadata);
  await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
  return response;
}

/** Ticks until every job in `ids` is finalized; returns the stats of every tick. */
async function tickUntilFinalized(ids: string[], tick = () => runPollerTick({ log: env.log })) {
  const all: PollerTickStats[] = [];
  await until('jobs to be finalized', async () => {
    all.push(await tick());
    const rows = await Promise.all(ids.map(job));
    return rows.every((r) => r?.phase === 'finalized');
  });
  return all;
}

const sum = (stats: PollerTickStats[], key: keyof PollerTickStats) =>
  stats.reduce((n, s) => n + (s[key] as number), 0);

describe('the background poller', () => {
  it('polls a background response to completion, stores it, lists it, and answers retrieves from the record', async () => {
    const response = await track();
    expect(await terminalResponseFromJob(response.id)).toBeUndefined();

    await tickUntilFinalized([response.id]);

    const row = (await job(response.id))!;
    expect(row.status).toBe('completed');
    expect(row.pollCount).toBeGreaterThan(0);
    expect(JSON.parse(row.usage!).output_tokens).toBeGreaterThan(0);
    const stored = await terminalResponseFromJob(response.id);
    expect(stored?.status).toBe('completed');
    expect(stored?.id).toBe(response.id);

    const before = await env.upstreamCalls('GET /responses/{id}');
    expect(await terminalResponseFromJob(response.id)).toBeDefined();
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(before);

    const list = await listJobs(env.caller, {});
    expect(list.data.map((j) => j.id)).toContain(env.held(response.id));
    const view = list.data.find((j) => j.id === env.held(response.id))!;
    expect(view).toMatchObject({
      object: 'background_job',
      kind: 'response',
      status: 'completed',
      deployment: 'gpt-4.1',
    });
    expect(view.usage?.total_tokens).toBeGreaterThan(0);
    expect(view.completed_at).toBeGreaterThan(0);
  });

  // Its table round trips are the benchmark's to report (tools/bench, scenario 3: the idle tick).
  it('reads only due jobs: with thousands waiting and none due, a tick polls nothing and changes nothing', async () => {
    // A table of its own: the other tests move the clock far ahead and must not meet these jobs.
    useStorageNamesForTests({ ...env.names, jobs: `${env.names.jobs}bulk` });
    try {
      await dueOnlyScenario();
    } finally {
      useStorageNamesForTests(env.names);
    }
  }, 120_000);

  async function dueOnlyScenario() {
    const store = await openJobStore();
    const later = Date.now() + 3_600_000;
    const count = 2000;
    const ids = Array.from({ length: count }, (_, i) => `resp_notdue_${i}`);
    // Bulk-load not-due jobs: index rows in batches, job rows in parallel.
    for (let i = 0; i < count; i += 100) {
      const tx = new TableTransaction();
      for (const id of ids.slice(i, i + 100))
        tx.createEntity({ partitionKey: DUE_PARTITION, rowKey: dueKey(later, id) });
      await store.jobs.submitTransaction(tx.actions);
    }
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        ids.slice(i, i + 100).map((id) =>
          store.jobs.createEntity<JobEntity>({
            partitionKey: id,
            rowKey: JOB_ROW,
            responseId: id,
            callerId: env.caller.id,
            callerName: env.caller.name,
            kind: 'response',
            deployment: 'gpt-4.1',
            status: 'queued',
            phase: 'running',
            createdAt: Date.now(),
            updatedAt: Date.now(),
            nextPollAt: later,
            dueKey: dueKey(later, id),
            pollCount: 0,
            version: 1,
          }),
        ),
      );
    }
    const callsBefore = await env.upstreamCalls('GET /responses/{id}');

    const idle = await runPollerTick({ log: env.log });
    expect(idle).toMatchObject({ due: 0, polled: 0, rescheduled: 0, finalized: 0, errors: 0 });
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(callsBefore);
    const untouched = await job(ids[count - 1]!);
    expect(untouched).toMatchObject({
      pollCount: 0,
      nextPollAt: later,
      dueKey: dueKey(later, ids[count - 1]!),
    });

    // Three real jobs made due now: the tick touches those three and nothing else.
    const due = await Promise.all([track(), track(), track()]);
    const busy = await runPollerTick({ log: env.log, now: Date.now() + 1000 });
    expect(busy.due).toBe(3);
    expect(busy.polled).toBe(3);
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(callsBefore + 3);
    expect(await job(ids[0]!)).toMatchObject({ pollCount: 0 });
    await tickUntilFinalized(due.map((r) => r.id));
  }

  // What each step costs in table round trips is the benchmark's to report (tools/bench/poller-steps.ts).
  it('a job moves through its polls with one due row at a time, and none is left once it is finalized', async () => {
    useStorageNamesForTests({ ...env.names, jobs: `${env.names.jobs}ops` });
    try {
      const response = await track({ emulator_duration_ms: '2500' });
      let clock = Date.now() + 1_000;
      // Each tick's clock is past every next poll the previous one can have picked (POLL_MAX_DELAY_MS is 200).
      const tick = async () => {
        clock = Math.max(clock, Date.now()) + 1_000;
        return runPollerTick({ log: env.log, now: clock });
      };
      const dueRows = async () => dueKeysIn((await openJobStore()).jobs);

      await sleep(800);
      // queued → in_progress: the job row and the caller's listing say so, and the job is due once more.
      const changed = await tick();
      expect(changed).toMatchObject({ due: 1, polled: 1, rescheduled: 1 });
      expect(await job(response.id)).toMatchObject({ status: 'in_progress', pollCount: 1 });
      expect(
        (await listJobs(env.caller, { limit: 100 })).data.find((j) => j.id === env.held(response.id))?.status,
      ).toBe('in_progress');
      expect(await dueRows()).toEqual([(await job(response.id))!.dueKey]);

      // Still running, same status: polled again, moved to a later due row (the old one gone).
      const before = (await job(response.id))!.dueKey;
      const polled = await tick();
      expect(polled).toMatchObject({ due: 1, polled: 1, rescheduled: 1 });
      const moved = (await job(response.id))!;
      expect(moved).toMatchObject({ status: 'in_progress', pollCount: 2 });
      expect(await dueRows()).toEqual([moved.dueKey]);
      expect(moved.dueKey).not.toBe(before);

      await until('the response to end upstream', async () => {
        return (await getOpenAI().responses.retrieve(response.id)).status === 'completed';
      });
      const finalized = await tick();
      expect(finalized).toMatchObject({ due: 1, polled: 1, finalized: 1 });
      const row = (await job(response.id))!;
      expect(row.phase).toBe('finalized');
      expect(await dueRows()).toEqual([]);
      const listed = (await listJobs(env.caller, { limit: 100 })).data.find(
        (j) => j.id === env.held(response.id),
      );
      expect(listed).toEqual({ ...toJobView(row), id: env.held(response.id) });
    } finally {
      useStorageNamesForTests(env.names);
    }
  });

  it('two pollers running the same ticks concurrently finalize each job exactly once', async () => {
    const finalized = new Map<string, number>();
    registerJobFinalizer('response', (ctx: FinalizerContext) => {
      finalized.set(ctx.job.responseId, (finalized.get(ctx.job.responseId) ?? 0) + 1);
      return Promise.resolve();
    });
    const responses = await Promise.all(Array.from({ length: 8 }, () => track()));
    const ids = responses.map((r) => r.id);

    const stats = await tickUntilFinalized(ids, async () => {
      const [a, b] = await Promise.all([runPollerTick({ log: env.log }), runPollerTick({ log: env.log })]);
      return { ...a, finalized: a.finalized + b.finalized, skipped: a.skipped + b.skipped };
    });

    expect(sum(stats, 'finalized')).toBe(ids.length);
    for (const id of ids) expect(finalized.get(id)).toBe(1);
    for (const id of ids) {
      const delivery = await getDelivery(eventId(id, 'response.completed'));
      // No registration for this caller and no per-request URL: nothing is queued, and nothing twice.
      expect(delivery).toBeUndefined();
    }
  });

  it('a crash between finalization steps is finished exactly once by the next tick', async () => {
    let calls = 0;
    registerJobFinalizer('response', () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('simulated crash in the finalizer'));
      return Promise.resolve({ eventData: { note: 'second try' } });
    });
    const response = await track();

    const first = await tickUntilFinalizedOrStuck(response.id);
    expect(calls).toBe(1);
    let row = (await job(response.id))!;
    expect(row.phase).toBe('finalizing');
    expect(row.steps).toBe('stored');
    expect(JSON.parse(row.finalizeError!).message).toContain('simulated crash');
    expect(first).toMatchObject({ finalized: 0, errors: 1 });
    // The payload was stored by the first attempt; the resumed one must not fetch it upstream again.
    expect((await readResponseJson(response.id))?.status).toBe('completed');
    const before = await env.upstreamCalls('GET /responses/{id}');
    // Once the final JSON is stored, the list says so and a retrieve is answered from the record.
    expect((await terminalResponseFromJob(response.id))?.status).toBe('completed');
    const listed = (await listJobs(env.caller, { limit: 100 })).data.find(
      (j) => j.id === env.held(response.id),
    );
    expect(listed?.status).toBe('completed');

    const resumed = await runPollerTick({ log: env.log, now: Date.now() + 5_000 });
    expect(resumed.finalized).toBe(1);
    expect(calls).toBe(2);
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(before);
    row = (await job(response.id))!;
    expect(row.phase).toBe('finalized');
    expect(row.status).toBe('completed');

    const again = await runPollerTick({ log: env.log, now: Date.now() + 600_000 });
    expect(again.finalized).toBe(0);
    expect(calls).toBe(2);
  });

  /** Ticks until the job has left `running` (claimed), returning the stats of the tick that claimed it. */
  async function tickUntilFinalizedOrStuck(id: string): Promise<PollerTickStats> {
    let last: PollerTickStats | undefined;
    await until('the job to be claimed', async () => {
      last = await runPollerTick({ log: env.log });
      return (await job(id))?.phase !== 'running';
    });
    return last!;
  }

  it('cancel wins: a response Azure completes after acknowledging the cancel stays cancelled', async () => {
    await env.fault({ kind: 'cancel_then_completed', count: 1 });
    const response = await track({ emulator_duration_ms: '400' });
    const cancelled = await getOpenAI().responses.cancel(response.id);
    expect(cancelled.status).toBe('cancelled');
    await recordCancel(response.id, cancelled, env.log);

    // Upstream goes on and reports `completed`.
    await until('upstream to complete', async () => {
      const upstream = await getOpenAI().responses.retrieve(response.id);
      return upstream.status === 'completed';
    });
    for (let i = 0; i < 3; i++) await runPollerTick({ log: env.log, now: Date.now() + 300_000 });

    const row = (await job(response.id))!;
    expect(row.status).toBe('cancelled');
    expect(row.phase).toBe('finalized');
    expect((await terminalResponseFromJob(response.id))?.status).toBe('cancelled');
    const list = await listJobs(env.caller, { status: 'cancelled' });
    expect(list.data.map((j) => j.id)).toContain(env.held(response.id));
  });

  it('cancel wins when the poller, not the cancel, sees the later `completed`', async () => {
    const response = await track({ emulator_duration_ms: '200' });
    // The cancel was acknowledged while still running: the job is marked and polled at once.
    await recordCancel(response.id, { ...response, status: 'in_progress' }, env.log);
    expect((await job(response.id))?.cancelRequested).toBe(true);

    await tickUntilFinalized([response.id]);

    expect((await job(response.id))?.status).toBe('cancelled');
    expect((await terminalResponseFromJob(response.id))?.status).toBe('cancelled');
    expect(env.lines.some((l) => l.includes('job.cancel_wins') && l.includes(response.id))).toBe(true);
  });

  it('a job that outlives JOB_MAX_AGE_SECONDS is expired with a clear error and cancelled upstream', async () => {
    await env.fault({ kind: 'stuck_queued', count: 1 });
    const response = await track();
    const cancelsBefore = await env.upstreamCalls('POST /responses/{id}/cancel');

    const stats = await runPollerTick({ log: env.log, now: Date.now() + 3_601_000 });

    expect(stats.expired).toBe(1);
    expect(stats.finalized).toBe(1);
    const row = (await job(response.id))!;
    expect(row.status).toBe('expired');
    expect(row.phase).toBe('finalized');
    expect(JSON.parse(row.lastError!)).toMatchObject({
      code: 'expired',
      message: expect.stringContaining('JOB_MAX_AGE_SECONDS'),
    });
    expect(await env.upstreamCalls('POST /responses/{id}/cancel')).toBe(cancelsBefore + 1);
    const stored = await terminalResponseFromJob(response.id);
    expect(stored?.status).toBe('cancelled');
    expect(stored?.error?.message).toContain('JOB_MAX_AGE_SECONDS');
    const list = await listJobs(env.caller, { status: 'expired' });
    expect(list.data.map((j) => j.id)).toEqual([env.held(response.id)]);
  });

  it("an upstream 429 pushes the job's next poll by the hint and stops the tick when the pause outlasts its budget", async () => {
    const a = await track({ emulator_duration_ms: '60000' });
    const b = await track({ emulator_duration_ms: '60000' });
    await env.fault({ kind: '429', count: 1, route: 'GET /responses/{id}', retryAfterMs: 5000 });
    const now = Date.now() + 1000;

    const stats = await runPollerTick({ log: env.log, now, concurrency: 1, budgetMs: 1500 });

    expect(stats.throttled).toBe(1);
    expect(stats.upstreamCalls).toBe(1);
    expect(stats.budgetExhausted).toBe(true);
    const rows = [(await job(a.id))!, (await job(b.id))!];
    const throttled = rows.find((r) => r.lastError?.includes('rate_limited'))!;
    expect(throttled.nextPollAt).toBeGreaterThanOrEqual(now + 5000);
    // The other job was not polled this tick and is still due.
    const other = rows.find((r) => r !== throttled)!;
    expect(other.pollCount).toBe(0);

    const next = await runPollerTick({ log: env.log, now: now + 1000 });
    expect(next.due).toBe(1);
    expect(next.throttled).toBe(0);
    expect((await job(other.responseId))!.pollCount).toBe(1);
    expect((await job(throttled.responseId))!.pollCount).toBe(1);
    await deleteJob(a.id);
    await deleteJob(b.id);
  });

  it('deleting a job removes its rows and stored payload; stale index rows are cleaned and skipped', async () => {
    const response = await track();
    await tickUntilFinalized([response.id]);
    const store = await openJobStore();
    // A stale hint: an index row whose time does not match the job row.
    await store.due.add(Date.now() - 1000, response.id, 1);

    const stats = await runPollerTick({ log: env.log });
    expect(stats.stale).toBeGreaterThanOrEqual(1);
    expect(stats.upstreamCalls).toBe(0);

    await deleteJob(response.id);
    expect(await job(response.id)).toBeUndefined();
    expect(await readResponseJson(response.id)).toBeUndefined();
    expect(await terminalResponseFromJob(response.id)).toBeUndefined();
    expect((await listJobs(env.caller, { limit: 100 })).data.map((j) => j.id)).not.toContain(response.id);
  });

  it('tracking the same response twice is harmless', async () => {
    const response = await track();
    await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
    await tickUntilFinalized([response.id]);
    const list = await listJobs(env.caller, { limit: 100 });
    expect(list.data.filter((j) => j.id === env.held(response.id))).toHaveLength(1);
  });
});
