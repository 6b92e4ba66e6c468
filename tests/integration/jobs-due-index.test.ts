/**
 * The due index's writes against real storage (Azurite): concurrent writers' writes (grouped into shared
 * transactions) are all stored, a transaction that fails because a row is already gone is made one write at a
 * time, and two writes to the same row keep their order.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useStorageNamesForTests } from '../../shared/platform/storage-names';
import {
  DueIndex,
  dueIndexKey,
  dueKey,
  duePartitionKeys,
  dueRow,
  newMeter,
  parseDueKey,
} from '../../shared/platform/scheduling/due-index';
import { getConfig } from '../../shared/platform/config';
import { openJobStore, type JobStore } from '../../shared/jobs/store';
import { dueKeysIn, startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';

let env: JobsEnv;
let store: JobStore;

beforeAll(async () => {
  env = await startJobsEnv();
});

afterAll(async () => {
  await env.close();
});

beforeEach(async () => {
  useStorageNamesForTests({ ...env.names, jobs: `${env.names.jobs}d${uniqueSuffix()}` });
  store = await openJobStore(newMeter());
});

const indexRows = () => dueKeysIn(store.jobs);

describe('due index writes', () => {
  // How many round trips the group commit makes of them is the benchmark's to report (tools/bench/poller-steps.ts).
  it('writes of concurrent writers are all stored when they resolve, old rows gone', async () => {
    const olds = await Promise.all(
      Array.from({ length: 40 }, (_, i) => store.due.add(1_000 + i, `resp_${i}`, 1)),
    );
    expect(await indexRows()).toEqual([...olds].sort());

    // 40 moves at once, as 40 polls in flight would make them: new row (with the old one in the same write).
    const news = await Promise.all(olds.map((old, i) => store.due.add(9_000 + i, `resp_${i}`, 2, [old])));

    expect(await indexRows()).toEqual([...news].sort());
  });

  it('a transaction with a row already gone falls back to single writes and still stores the rest', async () => {
    // One id, so the three writes share a partition and go in one transaction (only one partition's can).
    const kept = await store.due.add(2_000, 'resp_c', 1);
    const gone = dueIndexKey(1_000, 'resp_c', 1, getConfig().dueIndexPartitions);
    // `gone` was never written (a scan deleted it first); the whole transaction fails and is made write by write.
    const added = await store.due.add(3_000, 'resp_c', 2, [gone, kept]);
    expect(await indexRows()).toEqual([added]);
    await store.due.removeAll([added, gone, undefined]);
    expect(await indexRows()).toEqual([]);
  });

  it('two writes to the same row made together keep their order', async () => {
    const key = dueKey(4_000, 'resp_d', 1);
    await Promise.all([store.due.put(key), store.due.remove(key)]);
    expect(await indexRows()).toEqual([]);
    await Promise.all([store.due.remove(key), store.due.put(key)]);
    expect(await indexRows()).toEqual([key]);
  });
});

describe('due index partitions', () => {
  it('spreads rows over the partitions, and a scan merges them oldest first with one query per partition', async () => {
    const partitions = getConfig().dueIndexPartitions;
    expect(partitions).toBeGreaterThan(1);
    const keys = await Promise.all(
      Array.from({ length: 60 }, (_, i) => store.due.add(1_000 + ((i * 37) % 60), `resp_p${i}`, 1)),
    );
    const used = new Set<string>();
    for await (const row of store.jobs.listEntities()) used.add(row.partitionKey!);
    expect([...used].sort()).toEqual(duePartitionKeys().sort());

    const meter = newMeter();
    const index = new DueIndex(store.jobs, meter);
    const seen: string[] = [];
    for await (const key of index.due(1_030)) seen.push(key);
    const expected = keys.filter((k) => parseDueKey(k)!.at <= 1_030);
    expect([...seen].sort()).toEqual([...expected].sort());
    const times = seen.map((k) => parseDueKey(k)!.at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(meter.tableQueries).toBe(partitions);

    // Nothing due: still one query per partition, nothing read.
    const idle = newMeter();
    const none: string[] = [];
    for await (const key of new DueIndex(store.jobs, idle).due(999)) none.push(key);
    expect(none).toEqual([]);
    expect(idle).toMatchObject({ tableQueries: partitions, tableReads: 0, tableWrites: 0 });
  });

  it('keeps reaching rows written under another number of partitions', async () => {
    const one = new DueIndex(store.jobs, newMeter(), 1);
    const eight = new DueIndex(store.jobs, newMeter(), 8);
    const legacy = await one.add(1_000, 'resp_legacy', 1);
    // One partition: the `due` partition and key format of earlier releases (no partition prefix).
    expect(dueRow(legacy)).toEqual({ partitionKey: 'due', rowKey: legacy });
    const spread = await Promise.all(Array.from({ length: 8 }, (_, i) => eight.add(1_000, `resp_s${i}`, 1)));
    expect(await indexRows()).toEqual([legacy, ...spread].sort());
    // Any index removes any row by its key, whatever the partitions it reads.
    await one.removeAll(spread);
    await eight.remove(legacy);
    expect(await indexRows()).toEqual([]);
  });
});
