/**
 * Environment of the background-job integration tests: real Azurite (the run's shared instance, with tables and
 * containers of the test's own), the Responses API emulator over HTTP, a real `callers` row with a key.
 */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import type { Response } from 'openai/resources/responses/responses';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../../tools/emulator/server';
import type { Caller } from '../../../shared/callers/auth';
import { createKey } from '../../../shared/callers/keys';
import { getOpenAI, resetClientsForTests } from '../../../shared/platform/clients';
import { resetConfigForTests } from '../../../shared/platform/config';
import { resetStorageForTests } from '../../../shared/platform/storage';
import { useStorageNamesForTests, type StorageNames } from '../../../shared/platform/storage-names';
import { clearWebhookCacheForTests } from '../../../shared/webhooks/registration';
import type { JobLog } from '../../../shared/jobs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TableClient } from '@azure/data-tables';
import { ALL_DUE_PARTITIONS_FILTER, dueKeyOfRow } from '../../../shared/platform/scheduling/due-index';
import { generateIdSealingKeyEntry } from '../../../shared/platform/sealed-ids';
import { sealForCaller } from '../../../shared/platform/caller-ids';

export { sleep };

export interface JobsEnv {
  emulator: RunningEmulator;
  names: StorageNames;
  caller: Caller;
  /** Log lines the code under test wrote (never printed). */
  lines: string[];
  log: JobLog;
  /** Calls per emulator route, e.g. `GET /responses/{id}`. */
  upstreamCalls(route: string): Promise<number>;
  fault(spec: Record<string, unknown>): Promise<void>;
  /** Removes every injected fault (call it in `afterEach`, so a failing test leaks none). */
  clearFaults(): Promise<void>;
  /** The id the test's caller holds for upstream id `id` (sealed for them, as the service answers it). */
  held(id: string): string;
  /** A background response created upstream (not through the gateway). */
  createBackground(metadata?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export const uniqueSuffix = () => randomBytes(5).toString('hex');

/** Points the app's configuration, clients and storage names at this test's own resources. */
export async function startJobsEnv(
  options: { emulator?: EmulatorOptions; env?: Record<string, string> } = {},
): Promise<JobsEnv> {
  const emulator = await startEmulator({ backgroundDurationMs: 300, ...options.emulator });
  const suffix = uniqueSuffix();
  Object.assign(process.env, {
    AzureWebJobsStorage: inject('storageConnectionString'),
    AZURE_OPENAI_ENDPOINT: emulator.url,
    AZURE_OPENAI_API_KEY: 'emulator-key',
    AZURE_OPENAI_CHAT_DEPLOYMENT: 'gpt-4.1',
    AZURE_OPENAI_IMAGE_DEPLOYMENT: 'gpt-image-1',
    AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'gpt-4.1-mini',
    AZURE_OPENAI_MAX_RETRIES: '0',
    GATEWAY_MODE: 'local',
    ID_SEALING_KEYS: process.env.ID_SEALING_KEYS || generateIdSealingKeyEntry('t1'),
    POLL_INITIAL_DELAY_MS: '50',
    POLL_MAX_DELAY_MS: '200',
    POLL_CONCURRENCY: '8',
    POLL_TICK_BUDGET_MS: '10000',
    JOB_MAX_AGE_SECONDS: '3600',
    PUBLIC_BASE_URL: 'https://gateway.example.com',
    WEBHOOK_TIMEOUT_MS: '2000',
    WEBHOOK_RETRY_WINDOW_SECONDS: '86400',
    ...options.env,
  });
  resetConfigForTests();
  resetClientsForTests();
  resetStorageForTests();
  clearWebhookCacheForTests();
  const names: StorageNames = {
    jobs: `jobs${suffix}`,
    webhooks: `webhooks${suffix}`,
    idempotency: `idem${suffix}`,
    callers: 'callers',
    usage: `usage${suffix}`,
    responses: `responses-${suffix}`,
    pollQueue: `poll-${suffix}`,
  };
  useStorageNamesForTests(names);
  const callerName = `test-${suffix}`;
  await createKey(callerName);
  const lines: string[] = [];
  const record = (...args: unknown[]) => void lines.push(args.map(String).join(' '));
  const base = `${emulator.url}/_emulator`;
  return {
    emulator,
    names,
    caller: { id: `key:${callerName}`, source: 'key', name: callerName },
    lines,
    log: { log: record, warn: record, error: record },
    async upstreamCalls(route) {
      const res = await fetch(`${base}/stats`, { headers: { 'api-key': 'emulator-key' } });
      const stats = (await res.json()) as { requests: Record<string, number> };
      return stats.requests[route] ?? 0;
    },
    async fault(spec) {
      const res = await fetch(`${base}/faults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'api-key': 'emulator-key' },
        body: JSON.stringify(spec),
      });
      if (res.status !== 201) throw new Error(`fault not accepted: ${res.status} ${await res.text()}`);
    },
    async clearFaults() {
      const res = await fetch(`${base}/faults`, { method: 'DELETE', headers: { 'api-key': 'emulator-key' } });
      if (!res.ok) throw new Error(`faults not cleared: ${res.status} ${await res.text()}`);
    },
    held: (id) => sealForCaller(`key:${callerName}`, id),
    createBackground(metadata = {}) {
      return getOpenAI().responses.create({
        model: 'gpt-4.1',
        input: 'Say hello.',
        background: true,
        metadata,
      });
    },
    async close() {
      useStorageNamesForTests();
      await emulator.close();
    },
  };
}

/** Every due-index key stored in `table` (all partitions), sorted. */
export async function dueKeysIn(table: TableClient): Promise<string[]> {
  const keys: string[] = [];
  const rows = table.listEntities({
    queryOptions: { filter: ALL_DUE_PARTITIONS_FILTER, select: ['PartitionKey', 'RowKey'] },
  });
  for await (const row of rows) keys.push(dueKeyOfRow(row.partitionKey!, row.rowKey!));
  return keys.sort();
}

/** Repeats `step` until `done` says so, or fails after `timeoutMs`. */
export async function until(what: string, step: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await step())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(50);
  }
}
