/**
 * The gateway's 429s, per caller, hour and limit kind, for the platform team's report (`npm run usage`). Each
 * instance counts its rejections locally and writes them with its reconcile (sync.ts), so a rejection costs no
 * storage write of its own; the counts are at most one sync interval behind.
 */
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { TABLES, table } from '../platform/storage';
import type { CallerMeters } from './meters';
import { LIMIT_KINDS, type LimitKind } from './settings';

export const hourKey = (now: number) => new Date(now).toISOString().slice(0, 13);
/** Partition `r:<YYYY-MM-DDTHH>`, row `<instance>|<caller id>`: one instance's 429s of that hour by kind. */
export const rejectionPartition = (hour: string) => `r:${hour}`;

/** Property names of a rejection row, by kind. */
export const REJECTION_PROPERTY: Record<LimitKind, string> = {
  requests_per_minute: 'requestsPerMinute',
  tokens_per_minute: 'tokensPerMinute',
  tokens_per_day: 'tokensPerDay',
};

const BATCH = 100;

/** Writes `instance`'s rejections of the callers that have new ones (its own rows: plain upserts). */
export async function writeRejections(
  limits: TableClient,
  instance: string,
  callers: CallerMeters[],
  now: number,
): Promise<void> {
  const byPartition = new Map<string, TransactionAction[]>();
  const written: CallerMeters[] = [];
  for (const m of callers) {
    if (!m.rejectionsDirty) continue;
    for (const [hour, counts] of m.rejections) {
      const partitionKey = rejectionPartition(hour);
      const row: Record<string, unknown> & { partitionKey: string; rowKey: string } = {
        partitionKey,
        rowKey: `${instance}|${m.callerId}`,
        instance,
        callerId: m.callerId,
      };
      for (const kind of LIMIT_KINDS) row[REJECTION_PROPERTY[kind]] = counts[kind];
      byPartition.set(partitionKey, [...(byPartition.get(partitionKey) ?? []), ['upsert', row, 'Replace']]);
    }
    written.push(m);
  }
  for (const actions of byPartition.values()) {
    for (let i = 0; i < actions.length; i += BATCH)
      await limits.submitTransaction(actions.slice(i, i + BATCH));
  }
  // Only the current hour's rejections can still grow.
  for (const m of written) {
    m.rejectionsDirty = false;
    for (const hour of m.rejections.keys()) if (hour !== hourKey(now)) m.rejections.delete(hour);
  }
}

export interface RejectionCount {
  callerId: string;
  /** Start of the hour, unix seconds. */
  hour: number;
  /** 429s of that hour by the limit that refused them. */
  rejected: Record<LimitKind, number>;
  total: number;
}

/**
 * Rejections from the hour containing `since` to the hour containing `until` (default now), all instances added
 * up, oldest hour first; one caller (`key:<name>` or `entra:<oid>`) or all.
 */
export async function listRejections(options: {
  since: Date;
  until?: Date;
  caller?: string;
}): Promise<RejectionCount[]> {
  const limits = await table(TABLES.limits);
  const from = rejectionPartition(hourKey(options.since.getTime()));
  const to = rejectionPartition(hourKey((options.until ?? new Date()).getTime()));
  const filter =
    `PartitionKey ge '${from}' and PartitionKey le '${to}'` +
    (options.caller ? ` and callerId eq '${options.caller.replace(/'/g, "''")}'` : '');
  const sums = new Map<string, RejectionCount>();
  for await (const row of limits.listEntities<Record<string, unknown>>({ queryOptions: { filter } })) {
    const callerId = typeof row.callerId === 'string' ? row.callerId : '';
    const hourIso = (row.partitionKey ?? '').slice(2);
    const key = `${hourIso}|${callerId}`;
    let sum = sums.get(key);
    if (!sum) {
      sum = {
        callerId,
        hour: Date.parse(`${hourIso}:00:00Z`) / 1000,
        rejected: { requests_per_minute: 0, tokens_per_minute: 0, tokens_per_day: 0 },
        total: 0,
      };
      sums.set(key, sum);
    }
    for (const kind of LIMIT_KINDS) {
      const n = Number(row[REJECTION_PROPERTY[kind]] ?? 0);
      sum.rejected[kind] += n;
      sum.total += n;
    }
  }
  return [...sums.values()].sort((a, b) => a.hour - b.hour || a.callerId.localeCompare(b.callerId));
}
