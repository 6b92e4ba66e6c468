import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from './ports';
import { setTimeout as sleep } from 'node:timers/promises';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const HOST_CLI = join(REPO_ROOT, 'dist', 'tools', 'local-host', 'cli.js');

export interface SpawnHostOptions {
  /** Port to listen on; default a free one. */
  port?: number;
  /** App settings, passed as environment variables (they win over the app's local.settings.json). */
  settings: Record<string, string>;
  /** App folder; default the repository (its built `dist/functions/*.js`). */
  appRoot?: string;
  /** Poll blob containers and fire blob triggers (as `npm start` does). */
  watchBlobs?: boolean;
  blobWatchStatePath?: string;
  blobWatchIntervalMs?: number;
  /** How long to wait for `/admin/host/status`; default 30 s. */
  startTimeoutMs?: number;
}

export interface SpawnedHost {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  url: string;
  port: number;
  process: ChildProcess;
  /** SIGTERM and wait for a clean exit (appTerminate hooks run); SIGKILL after 10 s. */
  stop(): Promise<void>;
  /** SIGKILL, no cleanup: a crash. */
  kill(): void;
  /** Everything the host printed so far (stdout and stderr, interleaved). */
  logs(): string;
}

/**
 * Starts the local Functions host (`dist/tools/local-host/cli.js`) as a child process and resolves once
 * `GET /admin/host/status` answers. Build first: `npx tsc -p tsconfig.build.json`.
 */
export async function spawnHost(opts: SpawnHostOptions): Promise<SpawnedHost> {
  if (!existsSync(HOST_CLI)) {
    throw new Error(
      `${HOST_CLI} does not exist. Build the app and the local host first: npx tsc -p tsconfig.build.json`,
    );
  }
  const port = opts.port ?? (await freePort());
  const args = [HOST_CLI, '--port', String(port), '--app', opts.appRoot ?? REPO_ROOT];
  if (opts.watchBlobs) args.push('--watch-blobs');
  if (opts.blobWatchStatePath) args.push('--blob-watch-state', opts.blobWatchStatePath);
  if (opts.blobWatchIntervalMs !== undefined)
    args.push('--blob-watch-interval', String(opts.blobWatchIntervalMs));

  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...opts.settings },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `The local host exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`,
      );
    }
    try {
      const res = await fetch(`${url}/admin/host/status`, { signal: AbortSignal.timeout(1000) });
      if (res.ok && ((await res.json()) as { state?: string }).state === 'Running') break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`The local host did not become ready on ${url} in time:\n${output}`);
    }
    await sleep(100);
  }

  return {
    url,
    port,
    process: child,
    logs: () => output,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(force);
    },
  };
}
