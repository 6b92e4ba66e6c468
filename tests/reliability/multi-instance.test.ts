/**
 * Several instances: three hosts share one Azurite and one emulator, as `npm start -- --instances 3` runs them
 * and as Flex Consumption scales the app out. (ci: 200 jobs, 3 kills; full: 2,000 jobs, 6 kills.)
 *
 * - Background jobs created on any host, hosts SIGKILLed at random and started again: every job ends once
 *   (one finalization across every host's logs), every webhook arrives under one event id, nothing crashes, and
 *   the poll queue's work is spread over the hosts.
 * - Retrieve, cancel and stream resume of a response created on one host work on another.
 * - A revoked key is refused by every host within the key cache's lifetime (30 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { FINALIZE_LEASE_MS } from '../../shared/jobs/claim';
import { revokeKeys } from '../../shared/callers/keys';
import { spawnHost, type SpawnedHost } from '../support/host';
import { freePort } from '../support/ports';
import {
  SIZES,
  crashLines,
  finalizationsById,
  pool,
  raw,
  report,
  sleep,
  sseEvents,
  startReliabilityStack,
  waitForFinalized,
  type Caller,
  type ReliabilityStack,
} from './support';
import { seededRandom } from '../support/random';

/** The two hosts started besides the stack's own (which is host 0). */
interface ExtraHost {
  port: number;
  current: SpawnedHost;
  previousLogs: string[];
}

let stack: ReliabilityStack;
const extras: ExtraHost[] = [];
let caller: Caller;

const KEY_CACHE_MS = 30_000;

beforeAll(async () => {
  stack = await startReliabilityStack({ settings: { POLL_SCHEDULE: '*/1 * * * * *' } });
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    extras.push({ port, current: await spawnHost({ port, settings: stack.settings }), previousLogs: [] });
  }
  caller = await stack.newCaller('multi');
}, 120_000);

afterAll(async () => {
  await Promise.all(extras.map((h) => h.current.stop()));
  await stack?.stop();
});

const urls = () => [stack.hostUrl(), ...extras.map((h) => h.current.url)];
const allLogs = () =>
  [stack.logs(), ...extras.flatMap((h) => [...h.previousLogs, h.current.logs()])].join('\n');
const clientOn = (host: number, key = caller.key) =>
  new OpenAI({ baseURL: `${urls()[host]}/api/v1`, apiKey: key, maxRetries: 0, timeout: 60_000 });

/** SIGKILL host `i` and start it again on its port. */
async function crash(i: number, downMs: number): Promise<void> {
  if (i === 0) {
    stack.kill();
    await sleep(downMs);
    await stack.restart();
    return;
  }
  const h = extras[i - 1]!;
  h.current.kill();
  await new Promise<void>((r) =>
    h.current.process.exitCode !== null || h.current.process.signalCode !== null
      ? r()
      : h.current.process.once('exit', () => r()),
  );
  h.previousLogs.push(h.current.logs());
  await sleep(downMs);
  h.current = await spawnHost({ port: h.port, settings: stack.settings });
}

describe('three hosts, one storage account', () => {
  it(
    'end every job once while hosts are killed and restarted, the polling spread over them',
    { timeout: 900_000 },
    async () => {
      const { multiJobs: jobs, multiKills: kills } = SIZES;
      const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 100_000);
      const rand = seededRandom(seed);
      const started = Date.now();
      const ids: string[] = [];
      let killed = 0;
      let lostInFlight = 0;

      const killer = (async () => {
        while (killed < kills) {
          await sleep(1000 + rand() * 3000);
          await crash(Math.floor(rand() * 3), 200 + rand() * 1500);
          killed++;
        }
      })();

      let keysStuck = 0;
      const submit = async (i: number) => {
        let keyGeneration = 0;
        for (let attempt = 0; attempt < 40; attempt++) {
          // Round robin, moving on to the next host when one is down.
          const host = urls()[(i + attempt) % 3]!;
          try {
            const res = await raw(`${host}/api/v1/responses`, {
              method: 'POST',
              headers: {
                authorization: `Bearer ${caller.key}`,
                'content-type': 'application/json',
                'idempotency-key': `multi-${seed}-${i}-${keyGeneration}`,
              },
              body: JSON.stringify({
                model: 'gpt-4.1',
                input: `Multi-instance job ${i}.`,
                background: true,
                metadata: { emulator_duration_ms: String(500 + ((i * 7919) % 4000)) },
              }),
            });
            if (res.status === 200) {
              ids.push((res.json as { id: string }).id);
              return;
            }
            if (res.status === 409) {
              // The key's first request died with its host, its claim held until it goes stale (minutes): as in
              // crash-restart.test.ts, a caller that cannot wait tries again under a new key.
              keysStuck++;
              keyGeneration++;
            }
          } catch {
            lostInFlight++;
          }
          await sleep(300);
        }
        throw new Error(`job ${i} was never accepted`);
      };
      await pool(jobs, 12, submit);
      await killer;
      const submittedAt = Date.now();

      const rows = await waitForFinalized(ids, FINALIZE_LEASE_MS + 120_000);
      const waited = (Date.now() - submittedAt) / 1000;
      const unfinished = [...rows]
        .filter(([, j]) => j?.phase !== 'finalized')
        .map(([id, j]) => `${id}: ${j?.phase}`);
      const logs = allLogs();
      const finalizations = finalizationsById(logs);
      const twice = ids.filter((id) => (finalizations.get(id) ?? 0) > 1);
      const never = ids.filter((id) => (finalizations.get(id) ?? 0) === 0);

      const deadline = Date.now() + 60_000;
      const eventsFor = (id: string) => stack.deliveries.filter((d) => d.event.data.id === id);
      while (ids.some((id) => eventsFor(id).length === 0) && Date.now() < deadline) await sleep(500);
      const webhookProblems: string[] = [];
      for (const id of ids) {
        const events = eventsFor(id);
        if (events.length === 0) webhookProblems.push(`${id}: no delivery`);
        else if (new Set(events.map((d) => d.event.id)).size !== 1)
          webhookProblems.push(`${id}: several event ids`);
      }

      // Queue work per host (the Executed lines of the queue trigger in each host's output).
      const perHost = [
        stack.logs(),
        ...extras.map((h) => [...h.previousLogs, h.current.logs()].join('\n')),
      ].map((l) => (l.match(/Executed 'Functions\.poll-background-queue' \(Succeeded/g) ?? []).length);
      const stats = await stack.emulatorStats();
      report('multi-instance', {
        seed,
        hosts: 3,
        kills: killed,
        jobsAccepted: ids.length,
        lostInFlight,
        finalizedUnlogged: never.length,
        keysStuck,
        queueWorkPerHost: perHost,
        upstreamPolls: stats.requests['GET /responses/{id}'],
        upstreamCreates: stats.requests['POST /responses'],
        deliveries: stack.deliveries.length,
        waitedForJobs: waited,
        seconds: (Date.now() - started) / 1000,
      });

      expect(killed).toBe(kills);
      expect(ids.length).toBe(jobs);
      expect(unfinished).toEqual([]);
      expect(twice).toEqual([]);
      // A job with no `job.finalized` line was finalized by a host killed between the `finalized` write and the
      // log line (the queue worker finalizes several jobs at once, so one kill can catch more than one). That it
      // ended, and once, is shown by its row (`unfinished` above) and its one webhook event id (below).
      expect(webhookProblems).toEqual([]);
      // Polling spreads: at least two hosts ran queue work (each host's share depends on timing and kills).
      expect(perHost.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
      expect(crashLines(logs)).toEqual([]);
    },
  );

  it(
    'retrieve, cancel and stream resume work on a host other than the one that created',
    { timeout: 120_000 },
    async () => {
      // Created on host 0, retrieved on host 1.
      const made = await clientOn(0).responses.create({
        model: 'gpt-4.1',
        input: 'Retrieve me elsewhere.',
        background: true,
        metadata: { emulator_duration_ms: '300' },
      });
      const seen = await clientOn(1).responses.retrieve(made.id);
      expect(seen.id).toBe(made.id);
      await waitForFinalized([made.id], 60_000);
      expect((await clientOn(2).responses.retrieve(made.id)).status).toBe('completed');

      // Created on host 1, cancelled on host 2, seen cancelled on host 0.
      const long = await clientOn(1).responses.create({
        model: 'gpt-4.1',
        input: 'Cancel me elsewhere.',
        background: true,
        metadata: { emulator_duration_ms: '60000' },
      });
      const cancelled = await clientOn(2).responses.cancel(long.id);
      expect(cancelled.status).toBe('cancelled');
      await waitForFinalized([long.id], 60_000);
      expect((await clientOn(0).responses.retrieve(long.id)).status).toBe('cancelled');

      // A background stream started on host 2, cut after a few events, resumed on host 0.
      const stream = await clientOn(2).responses.create({
        model: 'gpt-4.1',
        input: 'Write a long story to be resumed elsewhere.',
        background: true,
        stream: true,
      });
      let id = '';
      let cursor = -1;
      for await (const event of stream) {
        if (event.type === 'response.created') id = event.response.id;
        cursor = event.sequence_number;
        if (cursor >= 3) break;
      }
      const resumed = await raw(`${urls()[0]}/api/v1/responses/${id}?stream=true&starting_after=${cursor}`, {
        headers: { authorization: `Bearer ${caller.key}` },
      });
      expect(resumed.status).toBe(200);
      const later = sseEvents(resumed.text);
      expect(later[0]!.sequence_number).toBe(cursor + 1);
      expect(later.at(-1)!.type).toBe('response.completed');
    },
  );

  it('refuses a revoked key on every host within the key cache lifetime', { timeout: 120_000 }, async () => {
    const doomed = await stack.newCaller('revoked');
    // Every host has the key in its cache.
    for (let h = 0; h < 3; h++) {
      const ok = await raw(`${urls()[h]}/api/v1/jobs`, {
        headers: { authorization: `Bearer ${doomed.key}` },
      });
      expect(ok.status).toBe(200);
    }
    const revokedAt = Date.now();
    expect(await revokeKeys(doomed.name)).toBeGreaterThan(0);
    const refusedAfter: number[] = [];
    await Promise.all(
      [0, 1, 2].map(async (h) => {
        for (;;) {
          const res = await raw(`${urls()[h]}/api/v1/jobs`, {
            headers: { authorization: `Bearer ${doomed.key}` },
          });
          if (res.status === 401) {
            refusedAfter[h] = Date.now() - revokedAt;
            return;
          }
          expect(res.status).toBe(200);
          if (Date.now() - revokedAt > KEY_CACHE_MS + 5_000) {
            refusedAfter[h] = Infinity;
            return;
          }
          await sleep(500);
        }
      }),
    );
    report('multi-instance-revoke', { refusedAfterMs: refusedAfter });
    for (const ms of refusedAfter) expect(ms).toBeLessThanOrEqual(KEY_CACHE_MS + 2_000);
  });
});
