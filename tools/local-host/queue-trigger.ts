import { createRequire } from 'node:module';
import type * as Identity from '@azure/identity';
import type * as StorageQueue from '@azure/storage-queue';
import type { DequeuedMessageItem, QueueClient } from '@azure/storage-queue';
import type { RegisteredFunction } from './core-api';
import type { RpcTypedData } from './core-types';
import { bindingString, triggerOf } from './invoke';
import { describeError, type Logger } from './logger';
import { resolvePlaceholders } from './settings';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The queue trigger's `extensions.queues` options of host.json, with the host's defaults (Functions docs,
 * "Azure Queue storage trigger": host.json settings).
 */
export interface QueueOptions {
  /** Messages fetched per request (1–32). Default 16. */
  batchSize: number;
  /** A new batch is fetched once the messages in flight drop to this. Default batchSize / 2. */
  newBatchThreshold: number;
  /** Longest wait between polls of an empty queue, in ms (polls back off from 100 ms up to it). Default 1 min. */
  maxPollingIntervalMs: number;
  /** How long a failed message stays invisible before it is retried, in ms. Default 0. */
  visibilityTimeoutMs: number;
  /** Attempts before a message goes to `<queue>-poison`. Default 5. */
  maxDequeueCount: number;
  /** `base64` (default) or `none`. */
  messageEncoding: 'base64' | 'none';
}

/** `hh:mm:ss` (TimeSpan) or a number of ms, as host.json accepts both for intervals. */
function interval(value: unknown, fallbackMs: number): number {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return fallbackMs;
  const m = /^(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$/.exec(value.trim());
  if (!m) throw new Error(`host.json extensions.queues: "${value}" is not a hh:mm:ss interval.`);
  return Math.round((Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000);
}

export function queueOptions(hostJson: { extensions?: Record<string, unknown> }): QueueOptions {
  const q = (hostJson.extensions?.queues ?? {}) as Record<string, unknown>;
  const batchSize = typeof q.batchSize === 'number' ? q.batchSize : 16;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 32) {
    throw new Error(`host.json extensions.queues.batchSize must be 1 to 32; got ${String(q.batchSize)}.`);
  }
  const encoding = q.messageEncoding ?? 'base64';
  if (encoding !== 'base64' && encoding !== 'none') {
    throw new Error(`host.json extensions.queues.messageEncoding must be base64 or none.`);
  }
  return {
    batchSize,
    newBatchThreshold:
      typeof q.newBatchThreshold === 'number' ? q.newBatchThreshold : Math.floor(batchSize / 2),
    maxPollingIntervalMs: Math.max(100, interval(q.maxPollingInterval, 60_000)),
    visibilityTimeoutMs: interval(q.visibilityTimeout, 0),
    maxDequeueCount: typeof q.maxDequeueCount === 'number' ? q.maxDequeueCount : 5,
    messageEncoding: encoding,
  };
}

/** A queue client for a binding's `connection`, resolved like the host's storage extension (see blob-storage.ts). */
export function queueClient(connection: string, queueName: string): QueueClient {
  const req = createRequire(__filename);
  const { QueueClient, QueueServiceClient } = req('@azure/storage-queue') as typeof StorageQueue;
  const env = process.env;
  const value = env[connection] ?? env[`AzureWebJobs${connection}`];
  if (value) return new QueueClient(value, queueName);
  const uri =
    env[`${connection}__queueServiceUri`] ??
    env[`${connection}__serviceUri`] ??
    (env[`${connection}__accountName`]
      ? `https://${env[`${connection}__accountName`]}.queue.core.windows.net`
      : undefined);
  if (!uri) {
    throw new Error(
      `Storage connection "${connection}" is not configured: set the app setting ${connection} to a connection string ` +
        `(UseDevelopmentStorage=true for Azurite) or ${connection}__queueServiceUri for an identity-based connection.`,
    );
  }
  const { DefaultAzureCredential } = req('@azure/identity') as typeof Identity;
  return new QueueServiceClient(uri, new DefaultAzureCredential()).getQueueClient(queueName);
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The text of a message as the trigger decodes it; undefined when base64 is expected and the text is not. */
export function decodeMessage(text: string, encoding: QueueOptions['messageEncoding']): string | undefined {
  if (encoding === 'none') return text;
  const compact = text.replace(/\s+/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** The trigger input: JSON text goes as `json` (the library hands the handler the parsed object), else `string`. */
export function messageInput(text: string): RpcTypedData {
  try {
    JSON.parse(text);
    return { json: text };
  } catch {
    return { string: text };
  }
}

/** The trigger metadata the host sends with a queue message (the library camel-cases the names). */
export function messageMetadata(m: DequeuedMessageItem, text: string): Record<string, RpcTypedData> {
  return {
    QueueTrigger: { string: text },
    Id: { string: m.messageId },
    PopReceipt: { string: m.popReceipt },
    DequeueCount: { json: String(m.dequeueCount) },
    InsertionTime: { string: m.insertedOn.toISOString() },
    ExpirationTime: { string: m.expiresOn.toISOString() },
    NextVisibleTime: { string: m.nextVisibleOn.toISOString() },
  };
}

export interface QueueListener {
  stop(): Promise<void>;
}

/**
 * While a message runs it stays invisible this long (the host's functionTimeout of 10 minutes); a host killed
 * mid-run leaves it to reappear then, as a crashed Functions instance does.
 */
const RUN_LEASE_S = 600;
const MIN_POLL_MS = 100;

/**
 * Runs one queue-triggered function against its queue as the host's queue listener does: fetches up to
 * `batchSize` messages, runs them concurrently, fetches again once no more than `newBatchThreshold` are in
 * flight, and backs off (100 ms doubling up to `maxPollingInterval`) while the queue is empty. A message that ran
 * is deleted; one that threw is made visible again after `visibilityTimeout`, and once it has been dequeued
 * `maxDequeueCount` times it is moved to `<queue>-poison` instead (created if missing).
 */
export function startQueueListener(
  fn: RegisteredFunction,
  run: (input: RpcTypedData, triggerMetadata: Record<string, RpcTypedData>) => Promise<unknown>,
  options: QueueOptions,
  logger: Logger,
): QueueListener {
  const { binding } = triggerOf(fn);
  const queueName = resolvePlaceholders(bindingString(binding, 'queueName')).toLowerCase();
  const connection = typeof binding.connection === 'string' ? binding.connection : 'AzureWebJobsStorage';
  const client = queueClient(connection, queueName);
  const poison = queueClient(connection, `${queueName}-poison`);
  const name = fn.metadata.name;
  const inFlight = new Set<Promise<void>>();
  let stopped = false;
  let wake: (() => void) | undefined;

  const toPoison = async (m: DequeuedMessageItem, why: string): Promise<void> => {
    await poison.createIfNotExists();
    await poison.sendMessage(m.messageText);
    await client.deleteMessage(m.messageId, m.popReceipt);
    logger.fn(
      name,
      'error',
      `Message ${m.messageId} moved to ${queueName}-poison after ${m.dequeueCount} attempt(s): ${why}`,
    );
  };

  const handle = async (m: DequeuedMessageItem): Promise<void> => {
    try {
      if (m.dequeueCount > options.maxDequeueCount) {
        // It ran out of attempts in an earlier life (a killed host): poison without running it again.
        return await toPoison(m, 'dequeue count past maxDequeueCount');
      }
      const text = decodeMessage(m.messageText, options.messageEncoding);
      if (text === undefined) return await toPoison(m, 'the message is not base64 (messageEncoding)');
      try {
        await run(messageInput(text), messageMetadata(m, text));
      } catch (err) {
        if (m.dequeueCount >= options.maxDequeueCount) return await toPoison(m, describeError(err));
        await client.updateMessage(m.messageId, m.popReceipt, undefined, options.visibilityTimeoutMs / 1000);
        return;
      }
      await client.deleteMessage(m.messageId, m.popReceipt);
    } catch (err) {
      // Storage failed under the listener; the message reappears when its lease ends.
      logger.fn(name, 'warning', `Queue message ${m.messageId} not settled: ${describeError(err)}`);
    }
  };

  const loop = async (): Promise<void> => {
    let idle = MIN_POLL_MS;
    let created = false;
    while (!stopped) {
      try {
        if (!created) {
          await client.createIfNotExists();
          created = true;
        }
        if (inFlight.size > options.newBatchThreshold) {
          await Promise.race(inFlight);
          continue;
        }
        const batch = await client.receiveMessages({
          numberOfMessages: options.batchSize,
          visibilityTimeout: RUN_LEASE_S,
        });
        if (batch.receivedMessageItems.length === 0) {
          await new Promise<void>((ok) => {
            wake = ok;
            setTimeout(ok, idle).unref();
          });
          idle = Math.min(idle * 2, options.maxPollingIntervalMs);
          continue;
        }
        idle = MIN_POLL_MS;
        for (const m of batch.receivedMessageItems) {
          const p = handle(m).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
      } catch (err) {
        logger.fn(name, 'warning', `Polling ${queueName} failed (retrying): ${describeError(err)}`);
        await sleep(Math.min(idle * 2, options.maxPollingIntervalMs));
      }
    }
  };

  const running = loop();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await running;
      await Promise.race([Promise.allSettled([...inFlight]), sleep(5000)]);
    },
  };
}
