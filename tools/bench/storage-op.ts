/**
 * Diagnostic: the latency of one Azurite table write and read from this process, the unit of what the service
 * adds on a create (ownership record) and on a retrieve (job lookup). Uses a table of its own.
 */
import { table } from '../../shared/platform/storage';
import { pool, summarize, type Summary } from './stats';

export async function measureStorageOp(n: number): Promise<{ upsert: Summary; read: Summary }> {
  const t = await table('benchprobe');
  const upserts: number[] = [];
  const reads: number[] = [];
  await pool(n, 1, async (i) => {
    const t0 = performance.now();
    await t.upsertEntity(
      { partitionKey: 'p', rowKey: `r${i}`, createdAt: new Date().toISOString() },
      'Merge',
    );
    upserts.push(performance.now() - t0);
    const t1 = performance.now();
    await t.getEntity('p', `r${i}`);
    reads.push(performance.now() - t1);
  });
  return { upsert: summarize(upserts.slice(50)), read: summarize(reads.slice(50)) };
}
