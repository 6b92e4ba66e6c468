/**
 * The gateway's 429s, per caller, hour and limit kind, for the platform team's report (`npm run usage`). Each
 * instance counts its rejections locally and writes them with its reconcile (sync.ts), so a rejection costs no
 * storage write of its own; the counts are at most one sync interval behind.
 */
import { TABLES, table } from '../platform/storage';
import { REJECTION_PROPERTY, hourKey, rejectionPartition } from './sync';
import { LIMIT_KINDS, type LimitKind } from './settings';

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
