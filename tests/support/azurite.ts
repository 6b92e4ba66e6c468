import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports';
import { setTimeout as sleep } from 'node:timers/promises';

/** Azurite's well-known development account key (public, documented; not a secret). */
export const DEV_ACCOUNT = 'devstoreaccount1';
export const DEV_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteInstance {
  blobPort: number;
  queuePort: number;
  tablePort: number;
  connectionString: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export function connectionStringFor(blobPort: number, queuePort: number, tablePort: number): string {
  return [
    'DefaultEndpointsProtocol=http',
    `AccountName=${DEV_ACCOUNT}`,
    `AccountKey=${DEV_KEY}`,
    `BlobEndpoint=http://127.0.0.1:${blobPort}/${DEV_ACCOUNT}`,
    `QueueEndpoint=http://127.0.0.1:${queuePort}/${DEV_ACCOUNT}`,
    `TableEndpoint=http://127.0.0.1:${tablePort}/${DEV_ACCOUNT}`,
  ].join(';');
}

async function waitForPort(port: number, deadline: number): Promise<void> {
  for (;;) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`Azurite did not listen on ${port} in time`);
      await sleep(100);
    }
  }
}

/**
 * Starts a real Azurite (blob, queue, table) on free ports with its data in a temporary folder.
 * `location` may be given to restart on the same data (storage-outage tests).
 */
export async function startAzurite(
  opts: { location?: string; ports?: [number, number, number] } = {},
): Promise<AzuriteInstance> {
  const [blobPort, queuePort, tablePort] = opts.ports ?? [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const location = opts.location ?? mkdtempSync(join(tmpdir(), 'azurite-'));
  const bin = join(__dirname, '..', '..', 'node_modules', 'azurite', 'dist', 'src', 'azurite.js');
  const child = spawn(
    process.execPath,
    [
      bin,
      '--silent',
      '--skipApiVersionCheck',
      '--disableTelemetry',
      '--loose',
      '--location',
      location,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blobPort),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queuePort),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(tablePort),
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const deadline = Date.now() + 30_000;
  await Promise.all([
    waitForPort(blobPort, deadline),
    waitForPort(queuePort, deadline),
    waitForPort(tablePort, deadline),
  ]);
  return {
    blobPort,
    queuePort,
    tablePort,
    connectionString: connectionStringFor(blobPort, queuePort, tablePort),
    process: child,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (!opts.location) rmSync(location, { recursive: true, force: true });
    },
  };
}
