/**
 * Table and container names, and first-use creation. In Azure, Bicep creates them; locally (Azurite) and after
 * a fresh deploy the app creates any that are missing, once per process.
 */
import type { ContainerClient } from '@azure/storage-blob';
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import { getContainer, getQueue, getTable } from './clients';

export const TABLES = {
  callers: 'callers',
  ownership: 'ownership',
  jobs: 'jobs',
  webhooks: 'webhooks',
  idempotency: 'idempotency',
  documents: 'documents',
  limits: 'limits',
  usage: 'usage',
} as const;

export const CONTAINERS = {
  documents: 'documents',
  summaries: 'summaries',
  images: 'images',
  responses: 'responses',
} as const;

export const QUEUES = {
  /** One message per claimed poll of a background job (the timer selects, the queue trigger polls). */
  pollWork: 'poll-work',
} as const;

const ensuredTables = new Map<string, Promise<void>>();
const ensuredContainers = new Map<string, Promise<void>>();
const ensuredQueues = new Map<string, Promise<void>>();

function isConflict(e: unknown): boolean {
  return (e as { statusCode?: number }).statusCode === 409;
}

/** The named table, created on first use in this process. */
export async function table(name: string): Promise<TableClient> {
  const client = getTable(name);
  let ready = ensuredTables.get(name);
  if (!ready) {
    ready = client.createTable().catch((e: unknown) => {
      ensuredTables.delete(name);
      if (!isConflict(e)) throw e;
    });
    ensuredTables.set(name, ready);
  }
  await ready;
  return client;
}

/** The named container, created on first use in this process. */
export async function container(name: string): Promise<ContainerClient> {
  const client = getContainer(name);
  let ready = ensuredContainers.get(name);
  if (!ready) {
    ready = client
      .createIfNotExists()
      .then(() => undefined)
      .catch((e: unknown) => {
        ensuredContainers.delete(name);
        throw e;
      });
    ensuredContainers.set(name, ready);
  }
  await ready;
  return client;
}

/** The named queue, created on first use in this process. */
export async function queue(name: string): Promise<QueueClient> {
  const client = getQueue(name);
  let ready = ensuredQueues.get(name);
  if (!ready) {
    ready = client
      .createIfNotExists()
      .then(() => undefined)
      .catch((e: unknown) => {
        ensuredQueues.delete(name);
        throw e;
      });
    ensuredQueues.set(name, ready);
  }
  await ready;
  return client;
}

export function resetStorageForTests(): void {
  ensuredQueues.clear();
  ensuredTables.clear();
  ensuredContainers.clear();
}

/** True for a 404 from either storage SDK. */
export function isNotFound(e: unknown): boolean {
  return (e as { statusCode?: number }).statusCode === 404;
}

/** True for a 412 (ETag mismatch) or 409 (row already exists) from either storage SDK. */
export function isConcurrencyConflict(e: unknown): boolean {
  const status = (e as { statusCode?: number }).statusCode;
  return status === 412 || status === 409;
}
