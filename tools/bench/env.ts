/**
 * What the benchmark runs against, all on loopback and all started (and stopped) by the benchmark itself: a
 * private Azurite in a temporary folder, the Responses API emulator in this process, and the function app under
 * the local host in a child process. Nothing here reuses `npm start`'s ports or data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../settings';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateIdSealingKeyEntry } from '../../shared/platform/sealed-ids';

export { sleep };

/** Azurite's well-known development account key (public and documented; not a secret). */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export const EMULATOR_KEY = 'emulator-key';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} was not ready within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}

async function listening(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
  child.kill('SIGTERM');
  await exited(child);
  clearTimeout(force);
}

export interface Azurite {
  connectionString: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * A private Azurite (blob, queue, table) on free ports, data in a temporary folder removed on stop.
 * `inMemory` keeps its data in memory only (`--inMemoryPersistence`): no periodic write of its database to disk.
 */
export async function startAzurite(opts: { inMemory?: boolean } = {}): Promise<Azurite> {
  const [blob, queue, tableP] = [await freePort(), await freePort(), await freePort()];
  const location = mkdtempSync(join(tmpdir(), 'bench-azurite-'));
  const bin = join(repoRoot, 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');
  const child = spawn(
    process.execPath,
    [
      bin,
      '--silent',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      ...(opts.inMemory ? ['--inMemoryPersistence'] : ['--location', location]),
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blob),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queue),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(tableP),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await waitUntil(
    'Azurite',
    async () => (await listening(blob)) && (await listening(queue)) && (await listening(tableP)),
    30_000,
  );
  return {
    connectionString: [
      'DefaultEndpointsProtocol=http',
      `AccountName=${DEV_ACCOUNT}`,
      `AccountKey=${DEV_KEY}`,
      `BlobEndpoint=http://127.0.0.1:${blob}/${DEV_ACCOUNT}`,
      `QueueEndpoint=http://127.0.0.1:${queue}/${DEV_ACCOUNT}`,
      `TableEndpoint=http://127.0.0.1:${tableP}/${DEV_ACCOUNT}`,
    ].join(';'),
    pid: child.pid,
    async stop() {
      await stopChild(child);
      rmSync(location, { recursive: true, force: true });
    },
  };
}

export interface Host {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  pid: number | undefined;
  logs(): string;
  /** Output lines that matched `count` so far. */
  counted(): number;
  stop(): Promise<void>;
}

/** The function app (`dist/functions/*.js`) under the local host, with `settings` as its environment. */
export async function startHost(
  settings: Record<string, string>,
  opts: {
    watchBlobs?: boolean;
    blobWatchIntervalMs?: number;
    execArgv?: string[];
    /** Output lines matching this are counted (Host.counted), however much of the output is kept. */
    count?: RegExp;
  } = {},
): Promise<Host> {
  const cli = join(repoRoot, 'dist', 'tools', 'local-host', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (npx tsc -p tsconfig.build.json).`);
  const port = await freePort();
  const args = [...(opts.execArgv ?? []), cli, '--port', String(port), '--app', repoRoot];
  if (opts.watchBlobs) args.push('--watch-blobs');
  if (opts.blobWatchIntervalMs !== undefined)
    args.push('--blob-watch-interval', String(opts.blobWatchIntervalMs));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...settings },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep only the tail: a benchmark logs a line per request.
  let output = '';
  let counted = 0;
  let partial = '';
  const keep = (s: string) => {
    output += s;
    if (output.length > 200_000) output = output.slice(-100_000);
    if (opts.count) {
      const lines = (partial + s).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (opts.count.test(line)) counted++;
    }
  };
  child.stdout.setEncoding('utf8').on('data', keep);
  child.stderr.setEncoding('utf8').on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    'The local host',
    async () => {
      if (child.exitCode !== null) throw new Error(`The local host exited early:\n${output}`);
      try {
        const res = await fetch(`${url}/admin/host/status`, { signal: AbortSignal.timeout(1000) });
        return res.ok;
      } catch {
        return false;
      }
    },
    60_000,
  );
  return { url, pid: child.pid, logs: () => output, counted: () => counted, stop: () => stopChild(child) };
}

/** One key ring for the whole run: hosts and in-process measurements seal ids alike. */
const BENCH_ID_SEALING_KEYS = generateIdSealingKeyEntry('b1');

/** Settings of the app under test: local mode, the emulator, and timers that stay out of the measurements. */
export function appSettings(connectionString: string, emulatorUrl: string): Record<string, string> {
  return {
    FUNCTIONS_WORKER_RUNTIME: 'node',
    GATEWAY_MODE: 'local',
    ID_SEALING_KEYS: BENCH_ID_SEALING_KEYS,
    AzureWebJobsStorage: connectionString,
    AZURE_OPENAI_ENDPOINT: emulatorUrl,
    AZURE_OPENAI_API_KEY: EMULATOR_KEY,
    AZURE_OPENAI_CHAT_DEPLOYMENT: 'gpt-4.1',
    AZURE_OPENAI_IMAGE_DEPLOYMENT: 'gpt-image-1',
    AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'gpt-4.1-mini',
    AZURE_OPENAI_ALLOWED_DEPLOYMENTS: 'gpt-4.1,gpt-4.1-mini,o4-mini',
    AZURE_OPENAI_TIMEOUT_MS: '60000',
    AZURE_OPENAI_MAX_RETRIES: '2',
    // The host's own timers would poll the same tables as the in-process poller scenario and add storage
    // traffic to the overhead scenarios; schedule them once a year (Jan 1st, 00:00:00).
    POLL_SCHEDULE: '0 0 0 1 1 *',
    WEBHOOK_SCHEDULE: '0 0 0 1 1 *',
    // Nor may it take poll-queue messages of the hosts the scaled-out poller scenario starts.
    'AzureWebJobs.poll-background-queue.Disabled': 'true',
    PUBLIC_BASE_URL: 'http://127.0.0.1:7071',
  };
}

export interface EmulatorProcess {
  url: string;
  pid: number | undefined;
  close(): Promise<void>;
}

/** The Responses API emulator in a child process (see emulator-child.ts). */
export async function startEmulatorProcess(options: Record<string, unknown>): Promise<EmulatorProcess> {
  const script = join(repoRoot, 'dist', 'tools', 'bench', 'emulator-child.js');
  const child = spawn(process.execPath, [script, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code}) before listening`)));
  });
  return { url, pid: child.pid, close: () => stopChild(child) };
}
