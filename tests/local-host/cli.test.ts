/**
 * The built CLI as `npm start` and end-to-end tests run it: a child process started with `spawnHost`.
 * Builds `dist/` first (`tsc -p tsconfig.build.json`), which also builds the production app it loads.
 */
import { BlobServiceClient } from '@azure/storage-blob';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../support/azurite';
import { HOST_CLI, REPO_ROOT, spawnHost, type SpawnedHost } from '../support/host';
import { freePort } from '../support/ports';
import { FIXTURE_APP, readReport, sleep, uploadText, waitFor } from './helpers';
import { generateIdSealingKeyEntry } from '../../shared/platform/sealed-ids';

let azurite: AzuriteInstance;

beforeAll(async () => {
  try {
    execFileSync(
      process.execPath,
      [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: REPO_ROOT,
        stdio: 'pipe',
      },
    );
  } catch {
    // Type errors elsewhere in the shared tree still emit JavaScript; what matters is that the files exist.
  }
  if (!existsSync(HOST_CLI) || !existsSync(join(REPO_ROOT, 'dist', 'functions', 'index.js'))) {
    throw new Error('The build did not produce dist/tools/local-host/cli.js and dist/functions/index.js');
  }
  azurite = await startAzurite();
}, 120_000);

afterAll(async () => {
  await azurite?.stop();
});

describe('local host CLI with the blob watcher', () => {
  it('fires for a blob uploaded while it was down after a restart, and not again for blobs it already fired', async () => {
    const container = `cli${Date.now()}`;
    const output = `${container}-out`;
    const stateDir = mkdtempSync(join(tmpdir(), 'lh-cli-'));
    const marker = join(stateDir, 'terminated');
    const opts = {
      appRoot: FIXTURE_APP,
      watchBlobs: true,
      blobWatchStatePath: join(stateDir, 'blob-watch.json'),
      blobWatchIntervalMs: 200,
      settings: {
        AzureWebJobsStorage: azurite.connectionString,
        FIXTURE_BLOB_CONTAINER: container,
        FIXTURE_OUTPUT_CONTAINER: output,
        FIXTURE_TERMINATE_MARKER: marker,
      },
    };
    const out = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(output);

    let host: SpawnedHost = await spawnHost(opts);
    await uploadText(azurite.connectionString, container, 'before.txt', 'old');
    await waitFor('before.txt', () => readReport(azurite.connectionString, output, 'before.txt'));
    await host.stop();
    expect(host.process.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(host.logs()).toContain('Host stopped.');

    // While the host is down: a new blob arrives, and the earlier report is removed to detect a refire.
    await uploadText(azurite.connectionString, container, 'while-down.txt', 'new');
    await out.getBlobClient('before.txt.json').delete();

    host = await spawnHost(opts);
    try {
      expect(
        (
          await waitFor('while-down.txt', () =>
            readReport(azurite.connectionString, output, 'while-down.txt'),
          )
        ).text,
      ).toBe('new');
      await sleep(1000);
      expect(await out.getBlobClient('before.txt.json').exists()).toBe(false);

      // A crash (SIGKILL) loses nothing either: the seen map is written as blobs are delivered.
      host.kill();
      await new Promise((r) => host.process.once('exit', r));
      await uploadText(azurite.connectionString, container, 'after-crash.txt', 'crash');
      host = await spawnHost(opts);
      expect(
        (
          await waitFor('after-crash.txt', () =>
            readReport(azurite.connectionString, output, 'after-crash.txt'),
          )
        ).text,
      ).toBe('crash');
      expect(await out.getBlobClient('before.txt.json').exists()).toBe(false);
    } finally {
      await host.stop();
    }
  }, 60_000);
});

describe('the production entry under the local host', () => {
  let host: SpawnedHost;

  beforeAll(async () => {
    const deadPort = await freePort();
    // The settings a developer gets by copying local.settings.sample.json, pointed at this test's Azurite.
    const sample = JSON.parse(readFileSync(join(REPO_ROOT, 'local.settings.sample.json'), 'utf8')) as {
      Values: Record<string, string>;
    };
    host = await spawnHost({
      settings: {
        ...sample.Values,
        AzureWebJobsStorage: azurite.connectionString,
        AZURE_OPENAI_ENDPOINT: `http://127.0.0.1:${deadPort}`,
        AZURE_OPENAI_API_KEY: 'dummy-key',
        // What `npm start` generates into local.settings.json on first run.
        ID_SEALING_KEYS: generateIdSealingKeyEntry('k1'),
      },
    });
  }, 60_000);
  afterAll(async () => {
    await host?.stop();
  });

  it('loads dist/functions/*.js and lists the health route like func does', () => {
    expect(host.logs()).toContain(`health: [GET] ${host.url}/api/health`);
    expect(host.logs()).toContain(`Host started: ${host.url}`);
  });

  it('answers GET /api/health with the health report, storage reachable', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect([200, 503]).toContain(res.status);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { status: string; checks: { storage: string; model: string } };
    expect(body).toMatchObject({
      status: expect.stringMatching(/^(ok|degraded)$/),
      checks: { storage: 'ok' },
    });
    expect(['ok', 'unreachable']).toContain(body.checks.model);
  });
});
