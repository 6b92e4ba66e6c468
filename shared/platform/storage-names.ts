/**
 * Where background jobs, webhook deliveries and idempotency records live. The names are the app's own
 * (`TABLES`, `CONTAINERS`); integration tests point them at tables of their own so parallel test files never
 * share rows.
 */
import { CONTAINERS, QUEUES, TABLES } from './storage';

export interface StorageNames {
  jobs: string;
  webhooks: string;
  idempotency: string;
  callers: string;
  /** The usage ledger: one row per upstream response (shared/usage/ledger.ts). */
  usage: string;
  /** Container of the final response JSON of background jobs (`<id>.json`). */
  responses: string;
  /** Queue of claimed polls (the queue trigger's binding names the app's own). */
  pollQueue: string;
}

const DEFAULTS: StorageNames = {
  jobs: TABLES.jobs,
  webhooks: TABLES.webhooks,
  idempotency: TABLES.idempotency,
  callers: TABLES.callers,
  usage: TABLES.usage,
  responses: CONTAINERS.responses,
  pollQueue: QUEUES.pollWork,
};

let current: StorageNames = { ...DEFAULTS };

export function storageNames(): Readonly<StorageNames> {
  return current;
}

/** Test seam: use other tables/containers (pass nothing to go back to the app's names). */
export function useStorageNamesForTests(names?: Partial<StorageNames>): void {
  current = { ...DEFAULTS, ...names };
}
