import { BlobServiceClient } from '@azure/storage-blob';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export const FIXTURE_APP = join(__dirname, 'fixture-app');

/** Polls `probe` until it returns something other than undefined, or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The fixture's in-memory observations (`fixture-app/lib/state.js`). */
export interface FixtureState {
  hooks: {
    appStart: { hookData: string } | null;
    preInvocation: number;
    postInvocation: number;
    lastPostSawPre: boolean;
  };
  uploads: Record<string, { status: 'reading' | 'completed' | 'aborted'; bytes: number }>;
  timer: {
    count: number;
    running: number;
    maxRunning: number;
    last?: {
      isPastDue: boolean;
      scheduleStatus: { last?: string; next?: string; lastUpdated?: string } | null;
      at: number;
    };
  };
  startupTimer: { count: number; last?: { isPastDue: boolean } };
  blobAttempts: Record<string, number>;
}

export async function fixtureState(url: string): Promise<FixtureState> {
  const res = await fetch(`${url}/api/state`);
  return (await res.json()) as FixtureState;
}

/** What the fixture blob function wrote for one blob. */
export interface BlobReport {
  isBuffer: boolean;
  text: string;
  triggerMetadata: {
    name: string;
    blobTrigger: string;
    uri: string;
    properties: {
      eTag: string;
      contentLength: number;
      contentType: string;
      lastModified: string;
      [k: string]: unknown;
    };
    metadata: Record<string, string>;
  };
}

export async function uploadText(
  connectionString: string,
  container: string,
  name: string,
  text: string,
  metadata?: Record<string, string>,
) {
  const client = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(container);
  await client.createIfNotExists();
  return client.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), {
    blobHTTPHeaders: { blobContentType: 'text/plain' },
    metadata,
  });
}

/** The fixture blob function's report for `name`, once it exists. */
export async function readReport(
  connectionString: string,
  container: string,
  name: string,
): Promise<BlobReport | undefined> {
  const blob = BlobServiceClient.fromConnectionString(connectionString)
    .getContainerClient(container)
    .getBlobClient(`${name}.json`);
  if (!(await blob.exists())) return undefined;
  return JSON.parse((await blob.downloadToBuffer()).toString('utf8')) as BlobReport;
}
