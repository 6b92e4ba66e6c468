/**
 * The webhook delivery queue (table `webhooks`): at-least-once, signed, retried with growing delays for
 * WEBHOOK_RETRY_WINDOW_SECONDS (default 24 h), the same `webhook-id` on every attempt.
 *
 * - Delivery row: PartitionKey = event id, RowKey = `delivery`; state `pending` → `delivered` | `failed`,
 *   written only with its ETag.
 * - Due index: PartitionKey = `due`, RowKey = `<next attempt epoch ms>.<version>.<nonce>_<event id>` (see
 *   platform/scheduling/due-index.ts).
 *
 * Before an attempt the row is moved past the attempt's timeout under its ETag: that claim is the lease that
 * keeps two timer instances from sending the same attempt, and a crash mid-attempt just retries later.
 */
import { getConfig } from '../platform/config';
import { postGuarded } from '../platform/outbound';
import { isConcurrencyConflict, isNotFound, table } from '../platform/storage';
import { storageNames } from '../platform/storage-names';
import { DueIndex, idFromDueKey, newMeter, type Meter } from '../platform/scheduling/due-index';
import { runBounded } from '../platform/scheduling/bounded';
import { webhookRetryDelay } from '../platform/scheduling/backoff';
import type { Log } from '../platform/log';
import type { WebhookEvent } from './events';
import { callerNameFor, getWebhookRegistration } from './registration';
import { webhookHeaders } from './signing';

const DELIVERY_ROW = 'delivery';

export type DeliveryState = 'pending' | 'delivered' | 'failed';

export interface DeliveryEntity {
  partitionKey: string;
  rowKey: string;
  etag?: string;
  eventId: string;
  type: string;
  subjectId: string;
  callerId: string;
  url: string;
  /** The exact JSON that is signed and sent on every attempt. */
  body: string;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  nextAttemptAt: number;
  dueKey: string;
  lastStatus?: number;
  lastError?: string;
  deliveredAt?: number;
  version: number;
}

interface Queue {
  table: Awaited<ReturnType<typeof table>>;
  due: DueIndex;
  meter: Meter;
}

async function openQueue(meter: Meter = newMeter()): Promise<Queue> {
  const t = await table(storageNames().webhooks);
  return { table: t, due: new DueIndex(t, meter), meter };
}

async function readDelivery(q: Queue, id: string): Promise<DeliveryEntity | undefined> {
  q.meter.tableReads++;
  try {
    return await q.table.getEntity<DeliveryEntity>(id, DELIVERY_ROW);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

async function updateDelivery(
  q: Queue,
  d: DeliveryEntity,
  changes: Partial<Omit<DeliveryEntity, 'partitionKey' | 'rowKey' | 'etag' | 'version'>>,
): Promise<DeliveryEntity | undefined> {
  const write = { ...changes, version: d.version + 1 };
  q.meter.tableWrites++;
  try {
    const r = await q.table.updateEntity(
      { partitionKey: d.partitionKey, rowKey: d.rowKey, ...write },
      'Merge',
      { etag: d.etag },
    );
    return { ...d, ...write, etag: r.etag };
  } catch (e) {
    if (isConcurrencyConflict(e) || isNotFound(e)) return undefined;
    throw e;
  }
}

export interface EnqueueRequest {
  /** Owner of the event (its registration signs it). */
  callerId: string;
  event: WebhookEvent;
  /** Target; default: the caller's registered URL. */
  url?: string;
}

/**
 * Queues `event` for delivery. Idempotent by event id: queueing the same event again changes nothing.
 * Returns false when there is nowhere to deliver it (no URL given and no registration).
 */
export async function enqueueWebhookEvent(request: EnqueueRequest, now = Date.now()): Promise<boolean> {
  const url = request.url || (await getWebhookRegistration(callerNameFor(request.callerId)))?.url;
  if (!url) return false;
  const q = await openQueue();
  const id = request.event.id;
  // Index row first: a crash after it leaves a stale hint (cleaned when met), never an unindexed delivery.
  const key = await q.due.add(now, id, 1);
  const entity: DeliveryEntity = {
    partitionKey: id,
    rowKey: DELIVERY_ROW,
    eventId: id,
    type: request.event.type,
    subjectId: request.event.data.id,
    callerId: request.callerId,
    url,
    body: JSON.stringify(request.event),
    state: 'pending',
    attempts: 0,
    createdAt: now,
    nextAttemptAt: now,
    dueKey: key,
    version: 1,
  };
  q.meter.tableWrites++;
  try {
    await q.table.createEntity(entity);
  } catch (e) {
    if (!isConcurrencyConflict(e)) throw e;
    await q.due.remove(key);
    return true;
  }
  // Again: a delivery tick that met the index row before the delivery row existed may have deleted it (it puts
  // the row back only if it sees the delivery row; see DueIndex.dropUnlessPending).
  await q.due.put(key);
  return true;
}

/** A delivery as stored (tests and diagnostics). */
export async function getDelivery(eventId: string): Promise<DeliveryEntity | undefined> {
  return readDelivery(await openQueue(), eventId);
}

export interface WebhookTickOptions {
  /** Clock of the tick (epoch ms); tests move it forward. Default: now. */
  now?: number;
  /** Stop starting new attempts after this many ms. Default POLL_TICK_BUDGET_MS. */
  budgetMs?: number;
  concurrency?: number;
  log: Log;
}

export interface WebhookTickStats extends Meter {
  due: number;
  attempted: number;
  delivered: number;
  retried: number;
  failed: number;
  stale: number;
  /** Deliveries whose handling failed on our side (storage); they stay due. */
  errors: number;
  budgetExhausted: boolean;
  durationMs: number;
}

const isSuccess = (status: number) => status >= 200 && status < 300;

/**
 * One delivery tick: attempts every delivery that is due, `concurrency` at a time, within the time budget.
 * Returns counts of what it did.
 */
export async function runWebhookTick(options: WebhookTickOptions): Promise<WebhookTickStats> {
  const config = getConfig();
  const started = Date.now();
  const offset = (options.now ?? started) - started;
  const clock = () => Date.now() + offset;
  const budgetMs = options.budgetMs ?? config.pollTickBudgetMs;
  const deadline = started + budgetMs;
  const stats: WebhookTickStats = {
    ...newMeter(),
    due: 0,
    attempted: 0,
    delivered: 0,
    retried: 0,
    failed: 0,
    stale: 0,
    errors: 0,
    budgetExhausted: false,
    durationMs: 0,
  };
  const q = await openQueue(stats);
  const windowMs = config.webhookRetryWindowSeconds * 1000;
  const timeoutMs = Math.min(config.webhookTimeoutMs, Math.max(500, budgetMs));
  const { log } = options;

  const attempt = async (key: string): Promise<void> => {
    stats.due++;
    const id = idFromDueKey(key);
    const d = await readDelivery(q, id);
    if (!d || d.dueKey !== key || d.state !== 'pending') {
      // A delivered or failed delivery is never moved again: every row left for it is stale.
      const record = d && (d.state !== 'pending' ? { dueKey: '', version: Infinity } : d);
      // Pending: another writer is moving the delivery to this row right now; it is theirs.
      if ((await q.due.dropUnlessPending(key, record, () => readDelivery(q, id))) === 'stale') stats.stale++;
      return;
    }
    // Claim this attempt: move the row past the attempt's timeout under its ETag.
    const now = clock();
    const leaseKey = await q.due.add(now + timeoutMs + 5_000, id, d.version + 1);
    const claimed = await updateDelivery(q, d, {
      attempts: d.attempts + 1,
      dueKey: leaseKey,
      nextAttemptAt: now + timeoutMs + 5_000,
    });
    if (!claimed) {
      await q.due.remove(leaseKey);
      return;
    }
    await q.due.remove(key);
    stats.attempted++;

    let status: number | undefined;
    let error: string | undefined;
    const registration = await getWebhookRegistration(callerNameFor(d.callerId));
    if (!registration) {
      error = 'The caller has no webhook registration (signing secret) any more.';
    } else {
      try {
        const result = await postGuarded(
          d.url,
          d.body,
          webhookHeaders(registration.secret, d.eventId, d.body),
          timeoutMs,
        );
        status = result.status;
        if (!isSuccess(status))
          error = `receiver answered ${status}${status >= 300 && status < 400 ? ' (redirects are not followed)' : ''}`;
      } catch (e) {
        error = (e as Error).message;
      }
    }
    const after = clock();
    const base = {
      eventId: d.eventId,
      type: d.type,
      responseId: d.subjectId,
      caller: d.callerId,
      attempt: claimed.attempts,
    };
    if (status !== undefined && isSuccess(status)) {
      await updateDelivery(q, claimed, {
        state: 'delivered',
        deliveredAt: after,
        lastStatus: status,
        lastError: '',
        dueKey: '',
      });
      await q.due.remove(leaseKey);
      stats.delivered++;
      log.log(JSON.stringify({ event: 'webhook.delivered', ...base, status }));
      return;
    }
    const next = after + webhookRetryDelay(claimed.attempts);
    const common = {
      lastError: (error ?? 'failed').slice(0, 1000),
      ...(status !== undefined ? { lastStatus: status } : {}),
    };
    if (next - d.createdAt > windowMs) {
      await updateDelivery(q, claimed, { ...common, state: 'failed', dueKey: '' });
      await q.due.remove(leaseKey);
      stats.failed++;
      log.warn(JSON.stringify({ event: 'webhook.failed', ...base, status, error }));
      return;
    }
    const nextKey = await q.due.add(next, id, claimed.version + 1);
    const rescheduled = await updateDelivery(q, claimed, { ...common, dueKey: nextKey, nextAttemptAt: next });
    await q.due.remove(rescheduled ? leaseKey : nextKey);
    stats.retried++;
    log.log(
      JSON.stringify({
        event: 'webhook.retry',
        ...base,
        status,
        error,
        nextAttemptAt: new Date(next).toISOString(),
      }),
    );
  };

  await runBounded(
    q.due.due(clock()),
    options.concurrency ?? config.webhookConcurrency,
    async (key) => {
      try {
        await attempt(key);
      } catch (e) {
        stats.errors++;
        log.error(`webhook delivery ${idFromDueKey(key)} failed: ${(e as Error).message}`);
      }
    },
    () => {
      if (Date.now() < deadline) return Promise.resolve(true);
      stats.budgetExhausted = true;
      return Promise.resolve(false);
    },
  );
  stats.durationMs = Date.now() - started;
  return stats;
}
