/**
 * Limits across instances: two local hosts share one Azurite and one emulator, and one caller hammers both at
 * once. Each host admits from its own buckets and reconciles through table storage every second; what the two
 * admit together in one minute must stay within 10 % of the caller's limit (the README states the measured
 * figure), and every refused request must be the gateway's own 429, never sent upstream.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKey } from '../../shared/callers/keys';
import { startEmulator } from '../../tools/emulator/server';
import { startAzurite } from '../support/azurite';
import { readEmulatorRequests } from '../support/emulator-requests';
import { spawnHost, type SpawnedHost } from '../support/host';
import { BASE_SETTINGS, EMULATOR_KEY, useTestStorage } from './stack';

const LIMIT = 200;
const PER_HOST_CONCURRENCY = 6;
/** The hammer stops this long after the first 429 (several reconciles), or at the latest after HAMMER_MAX_MS. */
const AFTER_FIRST_429_MS = 6_000;
const HAMMER_MAX_MS = 40_000;

let azurite: Awaited<ReturnType<typeof startAzurite>>;
let emulator: Awaited<ReturnType<typeof startEmulator>>;
const hosts: SpawnedHost[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  emulator = await startEmulator({ port: 0, apiKey: EMULATOR_KEY });
  useTestStorage(azurite.connectionString, { AZURE_OPENAI_ENDPOINT: emulator.url });
  const settings = {
    ...BASE_SETTINGS,
    AzureWebJobsStorage: azurite.connectionString,
    AZURE_OPENAI_ENDPOINT: emulator.url,
    // The default limit makes both hosts reconcile from their start, as deployed instances with defaults do.
    LIMIT_REQUESTS_PER_MINUTE: String(LIMIT),
    LIMIT_SYNC_INTERVAL_MS: '1000',
  };
  hosts.push(...(await Promise.all([spawnHost({ settings }), spawnHost({ settings })])));
}, 90_000);

afterAll(async () => {
  await Promise.all(hosts.map((h) => h.stop()));
  await emulator?.close();
  await azurite?.stop();
});

describe('limits across two instances', () => {
  it(
    `admit at most ${LIMIT} requests a minute (+10 %) to one caller hammering both`,
    { timeout: 150_000 },
    async () => {
      const name = `hammer-${randomUUID().slice(0, 8)}`;
      const key = await createKey(name);
      const namespace = `hammer-${randomUUID()}`;
      // The whole run inside one minute window, after both hosts have seen each other's heartbeat.
      await sleep(3_000);
      const left = 60_000 - (Date.now() % 60_000);
      if (left < HAMMER_MAX_MS + 3_000) await sleep(left + 100);
      const window = Math.floor(Date.now() / 60_000);

      const counts = { admitted: 0, gateway429: 0, other: 0, byHost: [0, 0] };
      const deadline = Date.now() + HAMMER_MAX_MS;
      let firstRefusal = 0;
      const going = () =>
        Date.now() < deadline && (!firstRefusal || Date.now() - firstRefusal < AFTER_FIRST_429_MS);
      const worker = async (h: number) => {
        while (going()) {
          const res = await fetch(`${hosts[h]!.url}/api/v1/responses`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              model: 'gpt-4.1',
              input: 'hi',
              metadata: { emulator_namespace: namespace },
            }),
          });
          const body = (await res.json()) as { error?: { type: string } };
          if (res.status === 200) {
            counts.admitted++;
            counts.byHost[h]!++;
          } else if (res.status === 429 && body.error?.type === 'gateway_rate_limit_error') {
            counts.gateway429++;
            firstRefusal ||= Date.now();
            // A refused caller backs off a little, as clients honouring retry-after do (but not the full second).
            await sleep(50);
          } else counts.other++;
        }
      };
      await Promise.all([0, 1].flatMap((h) => Array.from({ length: PER_HOST_CONCURRENCY }, () => worker(h))));
      expect(Math.floor(Date.now() / 60_000), 'the run stayed inside one minute window').toBe(window);

      const upstream = await readEmulatorRequests(emulator.url, {
        namespace,
        method: 'POST',
        route: '/responses',
      });
      const overshoot = (counts.admitted - LIMIT) / LIMIT;
      console.log(
        `two instances, limit ${LIMIT}/min: admitted ${counts.admitted} (host A ${counts.byHost[0]}, host B ${counts.byHost[1]}), ` +
          `gateway 429s ${counts.gateway429}, overshoot ${(overshoot * 100).toFixed(1)} %`,
      );
      expect(counts.other).toBe(0);
      expect(counts.gateway429).toBeGreaterThan(0);
      // Only admitted requests reached the model.
      expect(upstream.length).toBe(counts.admitted);
      expect(counts.admitted).toBeLessThanOrEqual(LIMIT * 1.1);
      // And the limit is shared, not starved: most of it is used, by both hosts.
      expect(counts.admitted).toBeGreaterThanOrEqual(LIMIT * 0.8);
      expect(Math.min(...counts.byHost)).toBeGreaterThan(0);
    },
  );
});
