/**
 * `npm run bench`: measures the service against the direct path (the official `openai` SDK straight to the
 * emulator) in the same run, prints a table, writes `bench-results/latest.json`, `docs/benchmarks.md` and
 * `docs/benchmarks-latency.svg`.
 *
 *   node dist/tools/bench/index.js [--only overhead,streaming,poller,documents,coldstart] [--quick]
 *                                  [--no-docs] [--poller-jobs 10000] [--report-only] [--azurite-in-memory]
 *                                  [--poller-instances 1,2,3]  (the poller through the queue, per host count)
 *
 * Everything it needs is started here on loopback (a private Azurite, the emulator with zero model latency,
 * the app under the local host) and stopped at the end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import OpenAI from 'openai';
import {
  appSettings,
  EMULATOR_KEY,
  startAzurite,
  startEmulatorProcess,
  startHost,
  type Azurite,
  type EmulatorProcess,
  type Host,
} from './env';
import { measureFloor, measureInProcess, measurePostFloor, runOverhead } from './overhead';
import { measureQuotaCheck } from './limits';
import { measureStorageOp } from './storage-op';
import { runStreaming } from './streaming';
import { runPoller } from './poller';
import { runPollerWebhooks } from './poller-webhooks';
import { runPollerInstances } from './poller-instances';
import { runDocuments } from './documents';
import { runColdStart } from './coldstart';
import { machineFacts, writeOutputs, printTable, type BenchResults } from './report';
import { repoRoot } from '../settings';
import { resetConfigForTests } from '../../shared/platform/config';
import { resetClientsForTests } from '../../shared/platform/clients';
import { resetStorageForTests } from '../../shared/platform/storage';
import { createKey } from '../../shared/callers/keys';

const SCENARIOS = ['overhead', 'streaming', 'poller', 'poller-webhooks', 'documents', 'coldstart'] as const;
type Scenario = (typeof SCENARIOS)[number];

function log(line: string): void {
  process.stdout.write(line + '\n');
}

/** Points this process's own storage and OpenAI clients (key creation, poller scenario) at the bench stack. */
function useStack(settings: Record<string, string>): void {
  Object.assign(process.env, settings);
  resetConfigForTests();
  resetClientsForTests();
  resetStorageForTests();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'no-docs': { type: 'boolean', default: false },
      'poller-jobs': { type: 'string' },
      'poller-instances': { type: 'string' },
      'report-only': { type: 'boolean', default: false },
      'azurite-in-memory': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const analysisFile = join(repoRoot, 'tools', 'bench', 'analysis.md');
  const analysis = () => (existsSync(analysisFile) ? readFileSync(analysisFile, 'utf8') : '');
  if (values['report-only']) {
    // Regenerates docs/ from bench-results/latest.json (after editing tools/bench/analysis.md), measuring nothing.
    const last = JSON.parse(
      readFileSync(join(repoRoot, 'bench-results', 'latest.json'), 'utf8'),
    ) as BenchResults;
    printTable(last, log);
    writeOutputs(last, { docs: true, analysis: analysis() });
    return;
  }
  const only = new Set<Scenario>(
    values.only ? (values.only.split(',').map((s) => s.trim()) as Scenario[]) : SCENARIOS,
  );
  for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`Unknown scenario "${s}".`);
  const quick = values.quick;
  const started = Date.now();
  const results: BenchResults = {
    startedAt: new Date(started).toISOString(),
    quick,
    azuriteInMemory: values['azurite-in-memory'],
    machine: machineFacts(),
    scenarios: {},
  };

  let azurite: Azurite | undefined;
  let emulator: EmulatorProcess | undefined;
  let host: Host | undefined;
  // Ctrl-C (or a kill) stops what the benchmark started instead of leaving Azurite and the host behind.
  const interrupted = (signal: NodeJS.Signals) => {
    log(`\n${signal}: stopping...`);
    void Promise.allSettled([host?.stop(), emulator?.close(), azurite?.stop()]).then(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    log('Starting Azurite, the emulator and the app under the local host...');
    azurite = await startAzurite({ inMemory: values['azurite-in-memory'] });
    emulator = await startEmulatorProcess({
      port: 0,
      apiKey: EMULATOR_KEY,
      latencyMs: 0,
      // Spaced events: each chunk a reader gets holds one event, so batching would show.
      streamEventDelayMs: 20,
      // The poller scenario keeps 10,000 background responses alive at once.
      maxResponses: 50_000,
    });
    const settings = appSettings(azurite.connectionString, emulator.url);
    useStack(settings);
    host = await startHost(settings);
    const callerName = `bench-${Date.now().toString(36)}`;
    const key = await createKey(callerName);
    const direct = new OpenAI({ baseURL: `${emulator.url}/openai/v1`, apiKey: EMULATOR_KEY, maxRetries: 0 });
    const service = new OpenAI({ baseURL: `${host.url}/api/v1`, apiKey: key, maxRetries: 0 });
    results.stack = { azuritePid: azurite.pid, hostPid: host.pid, emulatorPid: emulator.pid };

    if (only.has('overhead')) {
      log('\n[1/5] Overhead of create and retrieve (c=1, c=32)');
      const rows = await runOverhead({
        direct,
        service,
        totals: quick ? { c1: 300, c32: 1280 } : { c1: 2000, c32: 6400 },
        log,
      });
      const floor = await measureFloor(direct, service, quick ? 200 : 1000);
      log(`  floor (host + proxy, no I/O): added p50 ${floor.added} ms`);
      const postFloor = await measurePostFloor(direct, `${host.url}/api/v1`, key, quick ? 200 : 1000);
      log(`  POST floor (host + proxy + body, no I/O): added p50 ${postFloor.added} ms`);
      const inProcess = await measureInProcess(direct, quick ? 200 : 1000);
      log(
        `  service code in this process (no host): create added p50 ${inProcess.addedCreate} ms, retrieve added p50 ${inProcess.addedRetrieve} ms`,
      );
      const storage = await measureStorageOp(quick ? 200 : 1000);
      log(
        `  one Azurite table upsert from this process: p50 ${storage.upsert.p50.toFixed(2)} ms, read p50 ${storage.read.p50.toFixed(2)} ms`,
      );
      const quota = await measureQuotaCheck(quick ? 10_000 : 100_000, quick ? 200 : 1000);
      log(
        `  quota check in this process: admit + settle with 3 limits p50 ${(quota.limited.p50 * 1000).toFixed(1)} µs, ` +
          `no limit p50 ${(quota.unlimited.p50 * 1000).toFixed(1)} µs (added ${(quota.addedCheck * 1000).toFixed(1)} µs); ` +
          `whole create with limits p50 ${quota.createLimited.p50.toFixed(3)} ms vs without ${quota.createUnlimited.p50.toFixed(3)} ms (added ${quota.addedCreate} ms)`,
      );
      results.scenarios.overhead = { rows, floor, postFloor, inProcess, storage, quota };
    }
    if (only.has('streaming')) {
      log('\n[2/5] Streaming relay');
      results.scenarios.streaming = await runStreaming({
        direct,
        service,
        serviceBase: `${host.url}/api/v1`,
        serviceKey: key,
        serviceCallerId: `key:${callerName}`,
        emulatorBase: `${emulator.url}/openai/v1`,
        streams: quick ? 20 : 100,
        log,
      });
    }
    if (only.has('poller')) {
      log('\n[3/5] Poller at scale');
      const jobs = Number(values['poller-jobs'] ?? (quick ? 1000 : 10_000));
      results.scenarios.poller = await runPoller({ direct, jobs, emulatorUrl: emulator.url, log });
      if (values['poller-instances']) {
        const instances = values['poller-instances'].split(',').map(Number);
        if (instances.some((n) => !Number.isInteger(n) || n < 1 || n > 8))
          throw new Error('--poller-instances takes host counts from 1 to 8, e.g. 1,2,3.');
        log(`\n[3b/5] Poller through the queue with ${instances.join(', ')} host instance(s)`);
        results.scenarios.pollerInstances = await runPollerInstances({
          direct,
          jobs,
          instances,
          settings,
          emulatorUrl: emulator.url,
          log,
        });
      }
    }
    if (only.has('poller-webhooks')) {
      log('\n[3b/5] Poller with upstream webhooks on');
      const jobs = Number(values['poller-jobs'] ?? (quick ? 1000 : 10_000));
      results.scenarios.pollerWebhooks = await runPollerWebhooks({ jobs, log });
    }
    if (only.has('documents')) {
      log('\n[4/5] Document path');
      results.scenarios.documents = await runDocuments({
        settings,
        emulatorUrl: emulator.url,
        quick,
        log,
      });
    }
    if (only.has('coldstart')) {
      log('\n[5/5] Cold start');
      results.scenarios.coldstart = await runColdStart({ runs: quick ? 5 : 15, log });
    }
  } finally {
    await host?.stop().catch(() => undefined);
    await emulator?.close().catch(() => undefined);
    await azurite?.stop().catch(() => undefined);
  }
  results.durationS = Math.round((Date.now() - started) / 1000);
  printTable(results, log);
  // docs/ shows one complete run only; a partial run (--only) writes its JSON and leaves docs/ alone.
  const complete = SCENARIOS.every((sc) => only.has(sc));
  writeOutputs(results, { docs: complete && !values['no-docs'], analysis: analysis() });
  log(`\nDone in ${results.durationS} s.`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
