/**
 * The limits' reconcile loop against real table storage (Azurite behind a proxy that can refuse requests): what
 * an instance writes (its counters and its rejections, no write per request), what `listRejections` reports, and
 * a storage outage: no throw, no unhandled rejection, the local buckets go on enforcing the limit.
 */
import { randomUUID } from 'node:crypto';
import type { InvocationContext } from '@azure/functions';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  admitCreate,
  clearLimitsCacheForTests,
  listRejections,
  resetLimiterForTests,
  setLimits,
  syncLimitsNow,
} from '../../shared/limits';
import { type ClaimsRow, claimsRowKey, entriesOf } from '../../shared/limits/claims';
import { LIMITS_SWEEP_TASK, scheduleLimitsSweep, sweepLimits } from '../../shared/limits/cleanup';
import { INSTANCE_ID } from '../../shared/limits/sync';
import { ApiError } from '../../shared/platform/errors';
import { TABLES, table } from '../../shared/platform/storage';
import { storageNames } from '../../shared/platform/storage-names';
import { startStorageProxy, type StorageProxy } from '../support/storage-proxy';
import { useTestStorage } from '../e2e/stack';

let proxy: StorageProxy;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
const lines: string[] = [];
const log = {
  log: (s: string) => lines.push(s),
  warn: (s: string) => lines.push(s),
  error: (s: string) => lines.push(s),
} as unknown as InvocationContext;

beforeAll(async () => {
  const shared = inject('storageConnectionString');
  const tableEndpoint = /TableEndpoint=([^;]+)/.exec(shared)![1]!;
  const target = new URL(tableEndpoint);
  proxy = await startStorageProxy(target.origin);
  useTestStorage(shared.replace(tableEndpoint, `${proxy.origin}${target.pathname}`));
  process.on('unhandledRejection', onUnhandled);
});

afterEach(() => proxy.failWhen(undefined));

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  resetLimiterForTests();
  await proxy?.close();
});

/** Requests on the limits table; its writes go as entity-group transactions (`POST /$batch`). */
const limitsTable = (req: { url?: string }) =>
  (req.url ?? '').includes(`/${TABLES.limits}`) || (req.url ?? '').includes('/$batch');

async function admitted(callerId: string): Promise<boolean> {
  try {
    await admitCreate(callerId, { input: 'hi' }, log);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 429) return false;
    throw e;
  }
}

describe('reconciling limits through table storage', () => {
  it('writes counters and rejections with the reconcile, not per request; listRejections adds them up', async () => {
    resetLimiterForTests();
    const callerId = `key:rej-${randomUUID().slice(0, 8)}`;
    await setLimits(callerId, { requests_per_minute: 2 });
    clearLimitsCacheForTests();
    const since = new Date(Date.now() - 1000);
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 5_000) await new Promise((r) => setTimeout(r, left + 50));
    await admitted(callerId); // starts the loop (first reconcile) before counting
    await syncLimitsNow();
    let writes = 0;
    proxy.failWhen((req) => {
      if (limitsTable(req) && req.method !== 'GET') writes++;
      return false;
    });
    const results = [await admitted(callerId), await admitted(callerId), await admitted(callerId)];
    expect(results).toEqual([true, false, false]);
    expect(writes, 'no storage write on the request path').toBe(0);
    expect(lines.filter((l) => l.includes('"event":"limits.rejected"'))).toHaveLength(2);

    await syncLimitsNow();
    expect(writes).toBeGreaterThan(0);
    const minute = `m:${Math.floor(Date.now() / 60_000)}`;
    const rows = [];
    for await (const row of (await table(TABLES.limits)).listEntities<ClaimsRow>({
      queryOptions: { filter: `PartitionKey eq '${minute}' and callerId eq '${callerId}'` },
    }))
      rows.push(row);
    // One shared row for the caller, with this instance's entry: 2 counted, a claim of the whole limit (alone).
    expect(rows.map((r) => entriesOf(r)[INSTANCE_ID])).toMatchObject([{ n: [2, 0], c: [2, 0] }]);

    const rejections = await listRejections({ since, caller: callerId });
    expect(rejections).toHaveLength(1);
    expect(rejections[0]).toMatchObject({
      callerId,
      rejected: { requests_per_minute: 2, tokens_per_minute: 0, tokens_per_day: 0 },
      total: 2,
    });
    expect(rejections[0]!.hour).toBe(Math.floor(Date.now() / 3_600_000) * 3600);
  });

  it('storage down: reconciles fail quietly, the local buckets keep enforcing, nothing crashes', async () => {
    resetLimiterForTests();
    const callerId = `key:outage-${randomUUID().slice(0, 8)}`;
    await setLimits(callerId, { requests_per_minute: 3 });
    clearLimitsCacheForTests();
    // Refused storage calls are retried by the SDK for seconds: the test keeps to one minute window.
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 30_000) await new Promise((r) => setTimeout(r, left + 50));
    // The caller's limits are cached; from here on the limits table refuses everything.
    expect(await admitted(callerId)).toBe(true);
    proxy.failWhen(limitsTable);
    await syncLimitsNow();
    const refusedBefore = proxy.refused();
    expect(refusedBefore).toBeGreaterThan(0);
    expect([await admitted(callerId), await admitted(callerId), await admitted(callerId)]).toEqual([
      true,
      true,
      false,
    ]);
    // The loop's own timer runs on (every LIMIT_SYNC_INTERVAL_MS) against the outage without a throw.
    await new Promise((r) => setTimeout(r, 2_500));
    expect(proxy.refused()).toBeGreaterThan(refusedBefore);
    expect(unhandled).toEqual([]);

    proxy.failWhen(undefined);
    await syncLimitsNow();
    const minute = `m:${Math.floor(Date.now() / 60_000)}`;
    const row = await (await table(TABLES.limits)).getEntity<ClaimsRow>(minute, claimsRowKey(callerId));
    expect(entriesOf(row)[INSTANCE_ID]!.n[0]).toBe(3);
    // Up to 30 s waiting for a fresh minute window, then the SDK's retries against the outage.
  }, 90_000);

  it('sweeps what a day left behind an hour after it, and its 429 counts after 31 days', async () => {
    const limits = await table(TABLES.limits);
    // A day long past, far from anything another test writes; its neighbours must stay.
    const day = `2001-0${1 + Math.floor(Math.random() * 9)}-1${Math.floor(Math.random() * 9)}`;
    const start = Date.parse(`${day}T00:00:00Z`);
    const minute = (ms: number) => `m:${Math.floor(ms / 60_000)}`;
    const iso = (ms: number) => new Date(ms).toISOString();
    const rows = {
      gone: [
        { partitionKey: `d:${day}`, rowKey: 'c|key:a' },
        { partitionKey: minute(start), rowKey: 'h|stopped' },
        { partitionKey: minute(start + 86_400_000 - 1), rowKey: 'c|key:a' },
      ],
      rejections: [{ partitionKey: `r:${day}T05`, rowKey: 'x|key:a' }],
      kept: [
        { partitionKey: `d:${iso(start + 86_400_000).slice(0, 10)}`, rowKey: 'c|key:a' },
        { partitionKey: minute(start - 1), rowKey: 'h|stopped' },
        { partitionKey: minute(start + 86_400_000), rowKey: 'h|stopped' },
      ],
    };
    for (const row of [...rows.gone, ...rows.rejections, ...rows.kept]) await limits.upsertEntity(row);
    const exists = async (row: { partitionKey: string; rowKey: string }) =>
      limits.getEntity(row.partitionKey, row.rowKey).then(
        () => true,
        () => false,
      );
    const task = (name: string) => sweepLimits({ key: 'k', name, now: Date.now(), log });

    expect(await task(day)).toBe('ran');
    for (const row of rows.gone) expect(await exists(row), row.partitionKey).toBe(false);
    for (const row of [...rows.rejections, ...rows.kept])
      expect(await exists(row), row.partitionKey).toBe(true);
    // A second row for the same day finds nothing left.
    expect(await task(day)).toBe('skipped');
    expect(await task(`${day}|r`)).toBe('ran');
    expect(await exists(rows.rejections[0]!)).toBe(false);
    for (const row of rows.kept) expect(await exists(row), row.partitionKey).toBe(true);
    expect(await task('not-a-day')).toBe('skipped');

    // Scheduled at a reconcile: the day's sweep an hour after it ends, its 429s' after 31 days.
    const now = Date.now();
    const today = iso(now).slice(0, 10);
    await scheduleLimitsSweep(now);
    await scheduleLimitsSweep(now);
    const due: string[] = [];
    for await (const row of (await table(storageNames().jobs)).listEntities({
      queryOptions: { select: ['RowKey'] },
    })) {
      if (
        row.rowKey!.endsWith(`_${LIMITS_SWEEP_TASK}:${today}`) ||
        row.rowKey!.endsWith(`_${LIMITS_SWEEP_TASK}:${today}|r`)
      )
        due.push(row.rowKey!);
    }
    const end = Date.parse(`${today}T00:00:00Z`) + 86_400_000;
    // (Other processes on this storage may have scheduled the same day's sweeps: each is harmless.)
    expect(new Set(due.map((k) => Number(k.slice(0, 13))))).toEqual(
      new Set([end + 3_600_000, end + 31 * 86_400_000]),
    );
  });
});
