/**
 * Claims across instances against real table storage: three reconcilers (three instances, as three processes
 * would run them) share one Azurite, one caller hammers all three, and their reconciles overlap, interleave with
 * admissions and lag at random. At no point may what they admitted together exceed the limit (plus the one first
 * request per instance a window lets through), and together they still use most of it. The two-host end-to-end
 * run (tests/e2e/limits-instances.test.ts) measures the same through HTTP; this one hunts the interleavings.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Limits } from '../../shared/limits';
import { type ClaimsRow, claimsRowKey, entriesOf, minutePartition } from '../../shared/limits/claims';
import { Reconciler } from '../../shared/limits/sync';
import { TABLES, table } from '../../shared/platform/storage';
import { startAzurite } from '../support/azurite';
import { useTestStorage } from '../e2e/stack';
import { seededRandom } from '../support/random';

const LIMIT = 300;
const limits: Limits = { requests_per_minute: LIMIT, tokens_per_minute: null, tokens_per_day: null };
const one = { requests: 1, tokens: 0 };

let azurite: Awaited<ReturnType<typeof startAzurite>>;

beforeAll(async () => {
  // Its own storage: no other test's instances in the heartbeats.
  azurite = await startAzurite();
  useTestStorage(azurite.connectionString);
}, 60_000);

afterAll(async () => {
  await azurite?.stop();
});

describe('claims of three instances on one caller', () => {
  it('never admit more than the limit together, however their reconciles interleave', async () => {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 20_000) await new Promise((r) => setTimeout(r, left + 50));
    const window = Math.floor(Date.now() / 60_000);
    const seed = Date.now() % 100_000;
    const rnd = seededRandom(seed);
    const callerId = `key:claims-${randomUUID().slice(0, 8)}`;
    const instances = ['a', 'b', 'c'].map((x) => new Reconciler(1000, `${x}-${randomUUID().slice(0, 6)}`));
    // Each learns of the others (heartbeats) before the caller shows up, as instances started with defaults do.
    for (const r of instances) await r.sync();
    for (const r of instances) await r.sync();

    const admitted = () =>
      instances.reduce((n, r) => n + (r.callers.get(callerId)?.minute.local.requests ?? 0), 0);
    const hammer = (r: Reconciler, attempts: number) => {
      for (let i = 0; i < attempts; i++) if (r.admit(callerId, limits, one, Date.now()).verdict) return;
    };
    let most = 0;
    for (let round = 0; round < 30; round++) {
      // Some reconcile this round, at the same time; the third one lags (every fourth round at most).
      const syncing = instances.filter((_, i) => rnd() < (i === 2 ? 0.25 : 0.7));
      const pending = Promise.all(syncing.map((r) => r.sync()));
      let done = false;
      void pending.then(() => (done = true));
      // Admissions go on while those reconciles are in flight, between their storage calls.
      while (!done) {
        for (const r of instances) hammer(r, 1 + Math.floor(rnd() * 4));
        most = Math.max(most, admitted());
        expect(admitted(), `seed ${seed}, round ${round}`).toBeLessThanOrEqual(LIMIT + instances.length);
        await tick();
      }
      for (const r of instances) hammer(r, 20);
      most = Math.max(most, admitted());
      expect(admitted(), `seed ${seed}, round ${round}`).toBeLessThanOrEqual(LIMIT + instances.length);
    }
    expect(Math.floor(Date.now() / 60_000), 'the run stayed inside one minute window').toBe(window);
    console.log(`three instances, limit ${LIMIT}/min, seed ${seed}: admitted ${most} together`);
    // Shared, not starved: most of the limit was used, by every instance.
    expect(most).toBeGreaterThanOrEqual(LIMIT * 0.8);
    for (const r of instances) expect(r.callers.get(callerId)!.minute.local.requests).toBeGreaterThan(0);

    // What storage holds: one row for the caller, whose claims add up to no more than the limit.
    const row = await (
      await table(TABLES.limits)
    ).getEntity<ClaimsRow>(minutePartition(window), claimsRowKey(callerId));
    const entries = Object.values(entriesOf(row));
    expect(entries).toHaveLength(3);
    expect(entries.reduce((sum, e) => sum + Math.max(e.n[0], e.c[0]), 0)).toBeLessThanOrEqual(LIMIT + 3);
    for (const r of instances) r.stop();
  }, 120_000);
});
