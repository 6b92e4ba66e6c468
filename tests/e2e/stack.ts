/**
 * The running service for end-to-end tests: the real function app under the local host (a child process, so
 * tests can kill it), the Responses API emulator, and the run's Azurite. Callers get real gateway keys.
 */
import { randomUUID } from 'node:crypto';
import OpenAI from 'openai';
import { startEmulator } from '../../tools/emulator/server';
import { spawnHost } from '../support/host';
import { resetConfigForTests } from '../../shared/platform/config';
import { resetClientsForTests } from '../../shared/platform/clients';
import { resetStorageForTests } from '../../shared/platform/storage';
import { createKey } from '../../shared/callers/keys';
import { freePort } from '../support/ports';
import { startAzurite } from '../support/azurite';
import { generateIdSealingKeyEntry } from '../../shared/platform/sealed-ids';
import { newWebhookSecret } from '../../tools/emulator/webhooks';

export const EMULATOR_KEY = 'emulator-key';

/** What the emulator's `GET /_emulator/stats` answers. */
export interface EmulatorStats {
  /** Requests per `METHOD /template`, e.g. `POST /responses`. */
  requests: Record<string, number>;
  responses: number;
  running: number;
  files: number;
  streamDisconnects: number;
}

type EmulatorOptions = NonNullable<Parameters<typeof startEmulator>[0]>;

export interface Stack {
  /** `http://127.0.0.1:<port>` of the function app. */
  hostUrl: string;
  /** OpenAI-compatible base URL of the service: `<hostUrl>/api/v1`. */
  baseURL: string;
  emulatorUrl: string;
  storageConnectionString: string;
  /** A new caller with a fresh gateway key. */
  newCaller(prefix?: string): Promise<{ name: string; key: string; client: OpenAI }>;
  /** Official SDK pointed straight at the emulator (the "direct path"). */
  direct: OpenAI;
  /** Injects an emulator fault, e.g. `{ kind: '429', count: 3 }`. */
  fault(spec: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
  emulatorStats(): Promise<EmulatorStats>;
  /** With `upstreamWebhooks`: the secret the emulator signs Azure OpenAI's webhooks with, and the app verifies. */
  upstreamSecret?: string;
  hostLogs(): string;
  restartHost(opts?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export const BASE_SETTINGS = {
  GATEWAY_MODE: 'local',
  // One key ring per test file: the hosts it starts and its own in-process clients seal ids alike.
  ID_SEALING_KEYS: generateIdSealingKeyEntry('t1'),
  AZURE_OPENAI_API_KEY: EMULATOR_KEY,
  AZURE_OPENAI_CHAT_DEPLOYMENT: 'gpt-4.1',
  AZURE_OPENAI_IMAGE_DEPLOYMENT: 'gpt-image-1',
  AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'gpt-4.1-mini',
  AZURE_OPENAI_ALLOWED_DEPLOYMENTS: 'gpt-4.1,gpt-4.1-mini,o4-mini,missing-deployment',
  AZURE_OPENAI_MAX_RETRIES: '2',
  AZURE_OPENAI_TIMEOUT_MS: '20000',
  POLL_SCHEDULE: '*/1 * * * * *',
  WEBHOOK_SCHEDULE: '*/1 * * * * *',
  POLL_INITIAL_DELAY_MS: '200',
  POLL_MAX_DELAY_MS: '1000',
};

/** Points this test process's own storage clients (used to create keys and inspect rows/blobs) at Azurite. */
export function useTestStorage(connectionString: string, extra: Record<string, string> = {}): void {
  Object.assign(process.env, BASE_SETTINGS, {
    AzureWebJobsStorage: connectionString,
    AZURE_OPENAI_ENDPOINT: process.env.AZURE_OPENAI_ENDPOINT ?? 'http://127.0.0.1:9',
    ...extra,
  });
  resetConfigForTests();
  resetClientsForTests();
  resetStorageForTests();
}

/** The emulator sends Azure OpenAI's webhooks to the app's ingestion route on `port` (docs/upstream-webhooks.md). */
export function upstreamWebhookWiring(port: number) {
  const secret = newWebhookSecret();
  return {
    secret,
    emulator: { webhookUrl: `http://127.0.0.1:${port}/api/v1/upstream/webhooks`, webhookSecret: secret },
    settings: { UPSTREAM_WEBHOOK_SECRET: secret },
  };
}

export async function startStack(
  opts: {
    settings?: Record<string, string>;
    emulator?: EmulatorOptions;
    watchBlobs?: boolean;
    upstreamWebhooks?: boolean;
  } = {},
): Promise<Stack> {
  // Each stack has its own Azurite: its poller must only ever see jobs made against its own emulator.
  const azurite = await startAzurite();
  const storageConnectionString = azurite.connectionString;
  const port = await freePort();
  const wiring = opts.upstreamWebhooks ? upstreamWebhookWiring(port) : undefined;
  const emulator = await startEmulator({
    port: 0,
    apiKey: EMULATOR_KEY,
    ...wiring?.emulator,
    ...opts.emulator,
  });
  const settings = {
    ...BASE_SETTINGS,
    AzureWebJobsStorage: storageConnectionString,
    AZURE_OPENAI_ENDPOINT: emulator.url,
    ...wiring?.settings,
    ...opts.settings,
  };
  useTestStorage(storageConnectionString, { AZURE_OPENAI_ENDPOINT: emulator.url });
  let host = await spawnHost({ port, settings, watchBlobs: opts.watchBlobs });
  const hostUrl = host.url;
  const control = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${emulator.url}${path}`, {
      method,
      headers: { 'api-key': EMULATOR_KEY, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`emulator control ${method} ${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  return {
    hostUrl,
    baseURL: `${hostUrl}/api/v1`,
    emulatorUrl: emulator.url,
    storageConnectionString,
    upstreamSecret: wiring?.secret,
    direct: new OpenAI({ baseURL: `${emulator.url}/openai/v1`, apiKey: EMULATOR_KEY, maxRetries: 0 }),
    async newCaller(prefix = 'caller') {
      useTestStorage(storageConnectionString, { AZURE_OPENAI_ENDPOINT: emulator.url });
      const name = `${prefix}-${randomUUID().slice(0, 8)}`;
      const key = await createKey(name);
      return { name, key, client: new OpenAI({ baseURL: `${hostUrl}/api/v1`, apiKey: key, maxRetries: 0 }) };
    },
    async fault(spec) {
      await control('POST', '/_emulator/faults', spec);
    },
    async clearFaults() {
      await control('DELETE', '/_emulator/faults');
    },
    async emulatorStats() {
      return (await (await control('GET', '/_emulator/stats')).json()) as EmulatorStats;
    },
    hostLogs: () => host.logs(),
    async restartHost({ kill = false } = {}) {
      if (kill) host.kill();
      else await host.stop();
      host = await spawnHost({ port, settings, watchBlobs: opts.watchBlobs });
    },
    async stop() {
      await host.stop();
      await emulator.close();
      await azurite.stop();
    },
  };
}
