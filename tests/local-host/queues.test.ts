/**
 * Queue triggers run by themselves against Azurite, as the Functions host's queue listener runs them: base64
 * messages decoded (JSON handed over parsed), concurrent batches, delete on success, retry after the visibility
 * timeout on failure, and `<queue>-poison` after maxDequeueCount attempts.
 */
import { QueueClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHost, type LocalHost } from '../../tools/local-host/host';
import { decodeMessage, queueOptions } from '../../tools/local-host/queue-trigger';
import { startAzurite, type AzuriteInstance } from '../support/azurite';
import { FIXTURE_APP, waitFor } from './helpers';

interface QueueState {
  received: { message: unknown; triggerMetadata: Record<string, unknown> }[];
  attempts: Record<string, number>;
  maxRunning: number;
}

let azurite: AzuriteInstance;
let host: LocalHost;
const QUEUE = 'fixture-work';
const lines: string[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  // The fixture's host.json sets fast retries and three attempts.
  host = await startLocalHost({
    appRoot: FIXTURE_APP,
    port: 0,
    settings: { AzureWebJobsStorage: azurite.connectionString, FIXTURE_QUEUE: QUEUE },
    log: (line) => void lines.push(line),
  });
});

afterAll(async () => {
  await host?.close();
  await azurite?.stop();
});

const client = (name = QUEUE) => new QueueClient(azurite.connectionString, name);
const send = async (body: unknown) => {
  await client().createIfNotExists();
  await client().sendMessage(Buffer.from(JSON.stringify(body)).toString('base64'));
};
const state = async () =>
  ((await (await fetch(`${host.url}/api/state`)).json()) as { queue: QueueState }).queue;

describe('queue trigger', () => {
  it('runs each message once, parsed, with its trigger metadata, and deletes it', async () => {
    expect(lines.join('\n')).toContain(`sample-queue: queueTrigger (%FIXTURE_QUEUE%)`);
    for (let i = 0; i < 10; i++) await send({ name: `m${i}` });
    const received = await waitFor('ten messages', async () => {
      const s = await state();
      return s.received.filter((r) => String((r.message as { name: string }).name).startsWith('m')).length >=
        10
        ? s
        : undefined;
    });
    const first = received.received.find((r) => (r.message as { name: string }).name === 'm0')!;
    expect(first.message).toEqual({ name: 'm0' });
    // The library parses JSON-looking metadata strings, as it does for the host's.
    expect(first.triggerMetadata).toMatchObject({ dequeueCount: 1, queueTrigger: { name: 'm0' } });
    for (let i = 0; i < 10; i++) expect(received.attempts[`m${i}`]).toBe(1);
    // Batches run concurrently, never more than batchSize + newBatchThreshold at once.
    expect(received.maxRunning).toBeGreaterThan(1);
    expect(received.maxRunning).toBeLessThanOrEqual(6);
    await waitFor('the queue to be empty', async () =>
      (await client().getProperties()).approximateMessagesCount === 0 ? true : undefined,
    );
  });

  it('retries a failing message and moves it to the poison queue after maxDequeueCount attempts', async () => {
    await send({ name: 'bad', fail: true });
    const poisoned = await waitFor(
      'the poison message',
      async () => {
        const peek = await client(`${QUEUE}-poison`)
          .peekMessages({ numberOfMessages: 32 })
          .catch(() => undefined);
        const m = peek?.peekedMessageItems.find((p) =>
          decodeMessage(p.messageText, 'base64')?.includes('bad'),
        );
        return m;
      },
      20_000,
    );
    expect(JSON.parse(decodeMessage(poisoned.messageText, 'base64')!)).toEqual({ name: 'bad', fail: true });
    expect((await state()).attempts.bad).toBe(3);
    expect(lines.join('\n')).toMatch(/moved to fixture-work-poison after 3 attempt/);
  });

  it('reads host.json queue options with the host defaults', () => {
    expect(queueOptions({})).toEqual({
      batchSize: 16,
      newBatchThreshold: 8,
      maxPollingIntervalMs: 60_000,
      visibilityTimeoutMs: 0,
      maxDequeueCount: 5,
      messageEncoding: 'base64',
    });
    expect(() => queueOptions({ extensions: { queues: { batchSize: 64 } } })).toThrow(/batchSize/);
    expect(decodeMessage('not base64!', 'base64')).toBeUndefined();
  });

  it('leaves a function alone when AzureWebJobs.<name>.Disabled is true, as the host does', async () => {
    const off: string[] = [];
    const second = await startLocalHost({
      appRoot: FIXTURE_APP,
      port: 0,
      settings: {
        AzureWebJobsStorage: azurite.connectionString,
        FIXTURE_QUEUE: 'fixture-off',
        'AzureWebJobs.sample-queue.Disabled': 'true',
      },
      log: (line) => void off.push(line),
    });
    try {
      expect(off.join('\n')).toContain(
        'sample-queue: queueTrigger (disabled by AzureWebJobs.sample-queue.Disabled)',
      );
      await client('fixture-off').createIfNotExists();
      await client('fixture-off').sendMessage(Buffer.from('{"name":"off"}').toString('base64'));
      await new Promise((r) => setTimeout(r, 1500));
      expect((await client('fixture-off').getProperties()).approximateMessagesCount).toBe(1);
    } finally {
      await second.close();
      delete process.env['AzureWebJobs.sample-queue.Disabled'];
      process.env.FIXTURE_QUEUE = QUEUE;
    }
  });
});
