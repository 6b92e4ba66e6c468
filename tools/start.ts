/**
 * `npm start`: the whole service on one machine with no Azure account.
 *
 * Starts Azurite on its default ports (so `UseDevelopmentStorage=true` and Storage Explorer work; data in the
 * git-ignored `.azurite/`), the Responses API emulator (unless AZURE_OPENAI_ENDPOINT points at a real
 * resource), and the function app under the local host, which also watches Azurite for blob uploads.
 * Prints the base URL, a key for the `local` caller and a first call. Ctrl-C stops everything it started.
 *
 * `npm start -- --instances N` starts N hosts on consecutive ports from 7071 (PORT), sharing the one Azurite
 * and the one emulator, to try scale-out on one machine: every host serves every route, and every host runs the
 * poll queue's trigger, so polling spreads over them. Every host also fires the timers (Azure runs a timer on one
 * instance at a time; here the ticks overlap, which their claims make safe: the loser of a claim skips the job).
 * Only the first host watches Azurite for blob uploads (one watcher, one state file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { applyLocalSettings, readLocalSettings, repoRoot } from './settings';
import { callerForKey, createKey } from '../shared/callers/keys';
import { generateIdSealingKeyEntry } from '../shared/platform/sealed-ids';
import { newWebhookSecret } from './emulator/webhooks';
import { setTimeout as sleep } from 'node:timers/promises';

const EMULATOR_URL = 'http://127.0.0.1:4010';
const HOST_PORT = Number(process.env.PORT ?? 7071);
const children: ChildProcess[] = [];

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

function run(name: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (line: string) => (line ? `[${name}] ${line}` : line);
  child.stdout?.on('data', (d: Buffer) =>
    process.stdout.write(d.toString().split('\n').map(prefix).join('\n')),
  );
  child.stderr?.on('data', (d: Buffer) =>
    process.stderr.write(d.toString().split('\n').map(prefix).join('\n')),
  );
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`[${name}] exited (${signal ?? code}); stopping everything.`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stop(code = 0): Promise<never> {
  stopping = true;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          child.once('exit', () => (clearTimeout(timer), resolve()));
          child.kill('SIGTERM');
        }),
    ),
  );
  process.exit(code);
}

function ensureLocalSettings(): void {
  const target = join(repoRoot, 'local.settings.json');
  if (!existsSync(target)) {
    copyFileSync(join(repoRoot, 'local.settings.sample.json'), target);
    console.log('Created local.settings.json from local.settings.sample.json (git-ignored; edit it freely).');
  }
  // The keys that bind ids to callers are this machine's own secret: generated once, kept in the git-ignored
  // file so ids handed out stay valid across restarts.
  const settings = JSON.parse(readFileSync(target, 'utf8')) as { Values?: Record<string, string> };
  settings.Values ??= {};
  if (!settings.Values.ID_SEALING_KEYS) {
    settings.Values.ID_SEALING_KEYS = generateIdSealingKeyEntry('k1');
    writeFileSync(target, `${JSON.stringify(settings, null, 2)}\n`);
    console.log('Generated ID_SEALING_KEYS into local.settings.json.');
  }
}

async function startAzurite(): Promise<void> {
  if (await portOpen(10000)) {
    console.log('Azurite (or another storage emulator) is already listening on 10000; using it.');
    return;
  }
  const location = join(repoRoot, '.azurite');
  mkdirSync(location, { recursive: true });
  const bin = join(repoRoot, 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');
  run('azurite', [
    bin,
    '--silent',
    '--disableTelemetry',
    '--skipApiVersionCheck',
    '--loose',
    '--location',
    location,
  ]);
  await waitFor(
    'Azurite',
    async () => (await portOpen(10000)) && (await portOpen(10001)) && (await portOpen(10002)),
  );
}

async function startEmulator(): Promise<void> {
  if (await portOpen(4010)) throw new Error('Port 4010 (the emulator) is already in use.');
  // The emulator sends Azure OpenAI's webhooks to the app's ingestion route, signed with a secret of this run.
  process.env.UPSTREAM_WEBHOOK_SECRET ||= newWebhookSecret();
  run('emulator', [join(repoRoot, 'dist', 'tools', 'emulator', 'cli.js'), '--port', '4010'], {
    ...process.env,
    EMULATOR_API_KEY: process.env.AZURE_OPENAI_API_KEY ?? 'emulator-key',
    EMULATOR_WEBHOOK_URL: `http://127.0.0.1:${HOST_PORT}/api/v1/upstream/webhooks`,
    EMULATOR_WEBHOOK_SECRET: process.env.UPSTREAM_WEBHOOK_SECRET,
  });
  await waitFor('The emulator', () => portOpen(4010));
}

/** The `local` caller's key, created once and kept in the git-ignored `.local/` folder. */
async function localCallerKey(): Promise<string> {
  const file = join(repoRoot, '.local', 'local-caller.key');
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if ((await callerForKey(key)) === 'local') return key;
  }
  const key = await createKey('local');
  mkdirSync(join(repoRoot, '.local'), { recursive: true });
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

function instancesArg(): number {
  const { values } = parseArgs({ options: { instances: { type: 'string', default: '1' } }, strict: true });
  const n = Number(values.instances);
  if (!Number.isInteger(n) || n < 1 || n > 16) {
    throw new Error(`--instances must be a whole number from 1 to 16; got "${values.instances}".`);
  }
  return n;
}

async function main(): Promise<void> {
  const instances = instancesArg();
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  ensureLocalSettings();
  applyLocalSettings(readLocalSettings());
  process.env.GATEWAY_MODE ??= 'local';

  await startAzurite();
  const endpoint = process.env.AZURE_OPENAI_ENDPOINT?.replace(/\/+$/, '');
  if (!endpoint || endpoint === EMULATOR_URL) {
    process.env.AZURE_OPENAI_ENDPOINT = EMULATOR_URL;
    await startEmulator();
  } else {
    console.log(`Using Azure OpenAI at ${endpoint} (no emulator).`);
  }
  const key = await localCallerKey();

  const bases: string[] = [];
  for (let i = 0; i < instances; i++) {
    const port = HOST_PORT + i;
    run(instances === 1 ? 'host' : `host${i + 1}`, [
      join(repoRoot, 'dist', 'tools', 'local-host', 'cli.js'),
      '--port',
      String(port),
      ...(i === 0 ? ['--watch-blobs'] : []),
    ]);
    bases.push(`http://127.0.0.1:${port}`);
  }
  await Promise.all(
    bases.map((url) =>
      waitFor(`The function app on ${url}`, async () => {
        try {
          return (await fetch(`${url}/api/health`)).status === 200;
        } catch {
          return false;
        }
      }),
    ),
  );
  const base = bases[0]!;
  const others =
    bases.length > 1
      ? `\n  Same app, same storage (${bases.length} hosts): ${bases
          .slice(1)
          .map((b) => `${b}/api/v1`)
          .join(', ')}`
      : '';

  console.log(`
responses-gateway is running.
  Base URL (OpenAI-compatible):  ${base}/api/v1${others}
  Health:                        ${base}/api/health
  Key of the 'local' caller:     ${key}

First call:
  curl -s ${base}/api/v1/responses -H "Authorization: Bearer ${key}" \\
    -H "content-type: application/json" -d '{"input":"Say hello"}'

Or with the OpenAI SDK:
  new OpenAI({ baseURL: '${base}/api/v1', apiKey: '${key}' })

Ctrl-C stops Azurite, the emulator and the app.`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  void stop(1);
});
