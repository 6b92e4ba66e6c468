/**
 * The due index's writes against real storage (Azurite): concurrent writers' writes (grouped into shared
 * transactions) are all stored, a transaction that fails because a row is already gone is made one write at a
 * time, and two writes to the same row keep their order.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { useStorageNamesForTests } from '../../shared/platform/storage-names';
import { DUE_PARTITION, dueKey, newMeter } from '../../shared/platform/scheduling/due-index';
import { openJobStore, type JobStore } from '../../shared/jobs/store';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';

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

async function indexRows(): Promise<string[]> {
  const keys: string[] = [];
  const rows = store.jobs.listEntities({ queryOptions: { filter: `PartitionKey eq '${DUE_PARTITION}'` } });
  for await (const row of rows) keys.push(row.rowKey!);
  return keys.sort();
}

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
    const kept = await store.due.add(2_000, 'resp_a', 1);
    const gone = dueKey(1_000, 'resp_b', 1);
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
