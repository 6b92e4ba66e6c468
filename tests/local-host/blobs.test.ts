import { BlobServiceClient } from '@azure/storage-blob';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHost, type LocalHost } from '../../tools/local-host/host';
import { startAzurite, type AzuriteInstance } from '../support/azurite';
import { FIXTURE_APP, fixtureState, readReport, sleep, uploadText, waitFor } from './helpers';

const INPUT = 'samples';
const OUTPUT = 'processed';

let azurite: AzuriteInstance;
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

const settings = () => ({
  AzureWebJobsStorage: azurite.connectionString,
  FIXTURE_BLOB_CONTAINER: INPUT,
  FIXTURE_OUTPUT_CONTAINER: OUTPUT,
  FIXTURE_STREAMING: 'true',
});

function cloudEvent(container: string, name: string, url: string, type = 'Microsoft.Storage.BlobCreated') {
  return {
    specversion: '1.0',
    id: randomUUID(),
    source:
      '/subscriptions/0/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
    subject: `/blobServices/default/containers/${container}/blobs/${name}`,
    type,
    time: new Date().toISOString(),
    data: { api: 'PutBlob', contentType: 'text/plain', blobType: 'BlockBlob', url },
  };
}

function eventGridEvent(container: string, name: string, url: string) {
  return {
    id: randomUUID(),
    topic:
      '/subscriptions/0/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/devstoreaccount1',
    subject: `/blobServices/default/containers/${container}/blobs/${name}`,
    eventType: 'Microsoft.Storage.BlobCreated',
    eventTime: new Date().toISOString(),
    dataVersion: '',
    metadataVersion: '1',
    data: { api: 'PutBlob', contentType: 'text/plain', blobType: 'BlockBlob', url },
  };
}

describe('Event Grid blob trigger webhook', () => {
  let host: LocalHost;
  const lines: string[] = [];
  const webhook = () => `${host.url}/runtime/webhooks/blobs?functionName=Host.Functions.sample-blob`;
  const blobUrl = (name: string) => `http://127.0.0.1:${azurite.blobPort}/devstoreaccount1/${INPUT}/${name}`;
  const post = (body: unknown, eventType = 'Notification', url = webhook()) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'aeg-event-type': eventType },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    host = await startLocalHost({
      appRoot: FIXTURE_APP,
      port: 0,
      settings: settings(),
      blobRetryDelayMs: 50,
      log: (l) => lines.push(l),
    });
  });
  afterAll(async () => {
    await host?.close();
  });

  it('answers the subscription validation handshake', async () => {
    const res = await post(
      [
        {
          id: '1',
          eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
          data: { validationCode: 'abc-123' },
        },
      ],
      'SubscriptionValidation',
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ validationResponse: 'abc-123' });
  });

  it('runs the function for a CloudEvents BlobCreated event with the blob bytes and trigger metadata', async () => {
    const uploaded = await uploadText(azurite.connectionString, INPUT, 'cloud.txt', 'hello cloud', {
      origin: 'test',
    });
    const res = await post(cloudEvent(INPUT, 'cloud.txt', blobUrl('cloud.txt')));
    expect(res.status).toBe(202);
    const report = await waitFor('the report', () =>
      readReport(azurite.connectionString, OUTPUT, 'cloud.txt'),
    );
    expect(report.isBuffer).toBe(true);
    expect(report.text).toBe('hello cloud');
    const md = report.triggerMetadata;
    expect(md.name).toBe('cloud.txt');
    expect(md.blobTrigger).toBe(`${INPUT}/cloud.txt`);
    expect(md.uri).toBe(blobUrl('cloud.txt'));
    expect(md.metadata).toEqual({ origin: 'test' });
    expect(md.properties).toMatchObject({
      eTag: uploaded.etag,
      contentLength: 11,
      contentType: 'text/plain',
    });
    expect(new Date(md.properties.lastModified).getTime()).toBe(uploaded.lastModified!.getTime());
  });

  it('runs the function for each event of an Event Grid schema array', async () => {
    await uploadText(azurite.connectionString, INPUT, 'grid-a.txt', 'a');
    await uploadText(azurite.connectionString, INPUT, 'dir/grid-b.txt', 'b');
    const res = await post([
      eventGridEvent(INPUT, 'grid-a.txt', blobUrl('grid-a.txt')),
      eventGridEvent(INPUT, 'dir/grid-b.txt', blobUrl('dir/grid-b.txt')),
    ]);
    expect(res.status).toBe(202);
    expect((await waitFor('a', () => readReport(azurite.connectionString, OUTPUT, 'grid-a.txt'))).text).toBe(
      'a',
    );
    const b = await waitFor('b', () => readReport(azurite.connectionString, OUTPUT, 'dir/grid-b.txt'));
    expect(b.triggerMetadata.name).toBe('dir/grid-b.txt');
  });

  it('ignores events for other containers and other event types', async () => {
    await uploadText(azurite.connectionString, 'elsewhere', 'other.txt', 'x');
    await uploadText(azurite.connectionString, INPUT, 'deleted.txt', 'x');
    expect(
      (await post(cloudEvent('elsewhere', 'other.txt', 'http://x/devstoreaccount1/elsewhere/other.txt')))
        .status,
    ).toBe(202);
    expect(
      (await post(cloudEvent(INPUT, 'deleted.txt', blobUrl('deleted.txt'), 'Microsoft.Storage.BlobDeleted')))
        .status,
    ).toBe(202);
    await sleep(500);
    const { blobAttempts } = await fixtureState(host.url);
    expect(blobAttempts['other.txt']).toBeUndefined();
    expect(blobAttempts['deleted.txt']).toBeUndefined();
  });

  it('answers 404 for a function that is not blob-triggered or does not exist', async () => {
    const url = (fn: string) => `${host.url}/runtime/webhooks/blobs?functionName=Host.Functions.${fn}`;
    expect((await post(cloudEvent(INPUT, 'x', blobUrl('x')), 'Notification', url('hello'))).status).toBe(404);
    expect(
      (await post(cloudEvent(INPUT, 'x', blobUrl('x')), 'Notification', url('Sample-Blob'))).status,
    ).toBe(404);
  });

  it('retries a failing blob five times, then reports it as poison with its name', async () => {
    await uploadText(azurite.connectionString, INPUT, 'fail-1.txt', 'bad');
    expect((await post(cloudEvent(INPUT, 'fail-1.txt', blobUrl('fail-1.txt')))).status).toBe(202);
    const poison = await waitFor('the poison report', () =>
      lines.find((l) => l.includes('Poison blob') && l.includes(`${INPUT}/fail-1.txt`)),
    );
    expect(poison).toContain('[sample-blob]');
    expect((await fixtureState(host.url)).blobAttempts['fail-1.txt']).toBe(5);
  });

  it('runs a blob function once for POST /admin/functions/{name} with "container/name"', async () => {
    await uploadText(azurite.connectionString, INPUT, 'admin.txt', 'by admin');
    const res = await fetch(`${host.url}/admin/functions/sample-blob`, {
      method: 'POST',
      body: JSON.stringify({ input: `${INPUT}/admin.txt` }),
    });
    expect(res.status).toBe(202);
    expect((await readReport(azurite.connectionString, OUTPUT, 'admin.txt'))?.text).toBe('by admin');
  });
});

describe('blob watcher (npm start)', () => {
  it('fires for plain uploads and for new versions of a blob, and creates the watched container', async () => {
    const container = `watch${Date.now()}`;
    const output = `${container}-out`;
    const statePath = join(mkdtempSync(join(tmpdir(), 'lh-watch-')), 'blob-watch.json');
    const host = await startLocalHost({
      appRoot: FIXTURE_APP,
      port: 0,
      settings: { ...settings(), FIXTURE_BLOB_CONTAINER: container, FIXTURE_OUTPUT_CONTAINER: output },
      watchBlobs: true,
      blobWatchStatePath: statePath,
      blobWatchIntervalMs: 200,
      log: () => undefined,
    });
    try {
      const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
      await waitFor('the watched container', async () =>
        (await service.getContainerClient(container).exists()) ? true : undefined,
      );
      await uploadText(azurite.connectionString, container, 'watched.txt', 'v1');
      expect(
        (await waitFor('v1', () => readReport(azurite.connectionString, output, 'watched.txt'))).text,
      ).toBe('v1');
      await uploadText(azurite.connectionString, container, 'watched.txt', 'v2');
      await waitFor('v2', async () =>
        (await readReport(azurite.connectionString, output, 'watched.txt'))?.text === 'v2' ? true : undefined,
      );
      const saved = JSON.parse(readFileSync(statePath, 'utf8'));
      expect(Object.keys(saved.seen['sample-blob'])).toEqual(['watched.txt']);
    } finally {
      await host.close();
    }
  });
});
