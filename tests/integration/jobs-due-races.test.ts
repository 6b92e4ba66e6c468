/**
 * Races on the due index, forced deterministically by pausing a writer between adding its new index row and
 * the ETag-guarded write that points its record at that row. In each, a lost index row means a record that is
 * never due again: a job stuck `running` (or a finalization lease nobody resumes), a webhook never delivered.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Response } from 'openai/resources/responses/responses';
import { recordCancel, runPollerTick, trackBackgroundJob, type PollerTickStats } from '../../shared/jobs';
import { storageNames, useStorageNamesForTests } from '../../shared/platform/storage-names';
import {
  dueRow,
  DueIndex,
  dueKey,
  idFromDueKey,
  parseDueKey,
} from '../../shared/platform/scheduling/due-index';
import { openJobStore, readJob, updateJob } from '../../shared/jobs/store';
import type { JobEntity } from '../../shared/jobs/types';
import {
  enqueueWebhookEvent,
  getDelivery,
  runWebhookTick,
  type WebhookTickStats,
} from '../../shared/webhooks';
import { buildEvent } from '../../shared/webhooks/events';
import { table } from '../../shared/platform/storage';
import { startJobsEnv, uniqueSuffix, until, type JobsEnv } from './support/jobs-env';
import { setTimeout as sleep } from 'node:timers/promises';

let env: JobsEnv;

beforeAll(async () => {
  env = await startJobsEnv();
});

afterAll(async () => {
  await env.close();
});

beforeEach(() => {
  // Tables of each test's own: no other job's rows are due in these ticks.
  const suffix = uniqueSuffix();
  useStorageNamesForTests({
    ...env.names,
    jobs: `${env.names.jobs}r${suffix}`,
    webhooks: `${env.names.webhooks}r${suffix}`,
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  useStorageNamesForTests(env.names);
});

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the index as `this` below
const addRow = DueIndex.prototype.add;

/**
 * Runs `hook` instead of every `DueIndex.add` that `when` picks; `original` does the real add (at another time
 * if given one).
 */
function onAdd(
  when: (at: number, id: string, version: number) => boolean,
  hook: (original: (at?: number) => Promise<string>) => Promise<string>,
) {
  return vi.spyOn(DueIndex.prototype, 'add').mockImplementation(function (
    this: DueIndex,
    at: number,
    id: string,
    version: number,
  ) {
    const original = (time = at) => addRow.call(this, time, id, version);
    return when(at, id, version) ? hook(original) : original();
  });
}

async function job(id: string): Promise<JobEntity | undefined> {
  return readJob(await openJobStore(), id);
}

/** Whether the index row a record points at exists in `tableName`. */
async function indexed(tableName: string, key: string): Promise<boolean> {
  const t = await table(tableName);
  try {
    const { partitionKey, rowKey } = dueRow(key);
    await t.getEntity(partitionKey, rowKey);
    return true;
  } catch {
    return false;
  }
}

const jobsTable = () => storageNames().jobs;

async function track(response: Response) {
  await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
}

/** Moves the job's next poll an hour out, the way a poll claim moves it. */
async function park(id: string): Promise<void> {
  const store = await openJobStore();
  const current = (await readJob(store, id))!;
  const at = Date.now() + 3_600_000;
  const key = await store.due.add(at, id, current.version + 1);
  expect(await updateJob(store, current, { nextPollAt: at, dueKey: key })).toBeDefined();
  await store.due.remove(current.dueKey);
}

async function tickUntilFinalized(id: string, now = () => Date.now()): Promise<void> {
  await until('the job to be finalized', async () => {
    await runPollerTick({ log: env.log, now: now() });
    return (await job(id))?.phase === 'finalized';
  });
}

describe('due index keys', () => {
  it('are unique per write, carry the version they are for, sort by time, and still read the old format', () => {
    const a = dueKey(20_000, 'resp_a', 3);
    const b = dueKey(20_000, 'resp_a', 3);
    expect(a).not.toBe(b);
    expect(parseDueKey(a)).toEqual({ at: 20_000, id: 'resp_a', version: 3 });
    expect(idFromDueKey(a)).toBe('resp_a');
    expect(parseDueKey('0000000020000_resp_a_b')).toEqual({ at: 20_000, id: 'resp_a_b', version: undefined });
    expect(idFromDueKey(dueKey(20_000, 'evt_0f', 1))).toBe('evt_0f');
    // The range query "RowKey lt <now + 1 ms>" includes exactly the keys due at or before now.
    const bound = String(20_001).padStart(13, '0');
    expect(a < bound).toBe(true);
    expect(dueKey(20_001, 'resp_a', 1) < bound).toBe(false);
    expect(
      [dueKey(30_000, 'resp_a', 1), a, dueKey(10_000, 'resp_z', 9)].sort().map((k) => parseDueKey(k)!.at),
    ).toEqual([10_000, 20_000, 30_000]);
  });
});

describe('the due index under racing writers', () => {
  it('two pollers that pick the same next poll time: the loser of the ETag race keeps the winner’s row', async () => {
    // Still running upstream after the first poll, so the winner reschedules it.
    const response = await env.createBackground({ emulator_duration_ms: '3000' });
    await track(response);
    // Both pollers have read the job and picked the same time for its next poll (same millisecond, same
    // jitter; or both capped at the job's expiry) before either writes.
    const sameAt = Date.now() + 60_000;
    let arrived = 0;
    let release!: () => void;
    const bothArrived = new Promise<void>((r) => (release = r));
    const spy = onAdd(
      (_at, id) => id === response.id && arrived < 2,
      async (original) => {
        if (++arrived === 2) release();
        await Promise.race([bothArrived, sleep(5_000)]);
        return original(sameAt);
      },
    );

    const now = Date.now() + 1_000;
    const [a, b] = await Promise.all([
      runPollerTick({ log: env.log, now }),
      runPollerTick({ log: env.log, now }),
    ]);
    spy.mockRestore();

    expect(arrived).toBe(2);
    expect(a.skipped + b.skipped).toBe(1);
    const row = (await job(response.id))!;
    expect(row.pollCount).toBe(1);
    expect(parseDueKey(row.dueKey)?.at).toBe(sameAt);
    expect(await indexed(jobsTable(), row.dueKey)).toBe(true);
    await tickUntilFinalized(response.id, () => Date.now() + 120_000);
  });

  it('a cancel’s new index row met by a poller before the job row points at it is left alone', async () => {
    const response = await env.createBackground({ emulator_duration_ms: '200' });
    await track(response);
    await park(response.id);
    // The cancel has added its row (due at once) and not yet written the job row: a tick runs right then.
    let inner: PollerTickStats | undefined;
    onAdd(
      (_at, id) => id === response.id && !inner,
      async (original) => {
        const key = await original();
        inner = await runPollerTick({ log: env.log });
        return key;
      },
    );

    await recordCancel(response.id, { ...response, status: 'in_progress' }, env.log);
    vi.restoreAllMocks();

    expect(inner).toMatchObject({ due: 1, stale: 0, skipped: 1, upstreamCalls: 0 });
    const row = (await job(response.id))!;
    expect(row.cancelRequested).toBe(true);
    expect(await indexed(jobsTable(), row.dueKey)).toBe(true);
    await tickUntilFinalized(response.id);
    expect((await job(response.id))?.status).toBe('cancelled');
  });

  it('a job’s first index row met by a poller before the job row exists is there once tracking returns', async () => {
    const response = await env.createBackground();
    let inner: PollerTickStats | undefined;
    onAdd(
      (_at, id, version) => id === response.id && version === 1 && !inner,
      async (original) => {
        const key = await original();
        inner = await runPollerTick({ log: env.log, now: Date.now() + 1_000 });
        return key;
      },
    );

    await track(response);
    vi.restoreAllMocks();

    expect(inner).toMatchObject({ due: 1, stale: 1 });
    const row = (await job(response.id))!;
    expect(await indexed(jobsTable(), row.dueKey)).toBe(true);
    await tickUntilFinalized(response.id);
  });

  it('a webhook delivery’s first index row met by a delivery tick before the delivery row exists is there once queued', async () => {
    const event = buildEvent('response.completed', { id: `resp_race${uniqueSuffix()}` });
    let inner: WebhookTickStats | undefined;
    onAdd(
      (_at, id, version) => id === event.id && version === 1 && !inner,
      async (original) => {
        const key = await original();
        inner = await runWebhookTick({ log: env.log, now: Date.now() + 1_000 });
        return key;
      },
    );

    expect(
      await enqueueWebhookEvent({ callerId: env.caller.id, url: 'https://hooks.example.com/x', event }),
    ).toBe(true);
    vi.restoreAllMocks();

    expect(inner).toMatchObject({ due: 1, stale: 1, attempted: 0 });
    const delivery = (await getDelivery(event.id))!;
    expect(delivery.state).toBe('pending');
    expect(await indexed(storageNames().webhooks, delivery.dueKey)).toBe(true);
  });
});
