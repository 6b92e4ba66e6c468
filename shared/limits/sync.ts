/**
 * Reconciling the local buckets across instances, off the request path. Every LIMIT_SYNC_INTERVAL_MS each
 * instance writes its own rows to the `limits` table and reads everyone's:
 *
 *   partition `m:<minute number>`  row `<instance>|<caller id>`  its counts and bound in that minute;
 *                                  row `<instance>|`             its heartbeat (who is alive, for the shares);
 *   partition `d:<YYYY-MM-DD>`     row `<instance>|<caller id>`  its token count and bound that UTC day;
 *   partition `r:<YYYY-MM-DDTHH>`  row `<instance>|<caller id>`  its 429s of that hour by limit kind.
 *
 * Each instance only ever writes its own rows, with absolute values, so writes never conflict and a retried
 * write is harmless. An instance deletes its own rows of windows that have passed; rejection rows are kept (they
 * are what `listRejections` reports).
 *
 * Storage unreachable: the sync fails quietly (one warning per outage) and every instance keeps enforcing the
 * limits with its local buckets and the last counts it read, i.e. fail-open across instances (a caller may get
 * up to the limit on each instance), never fail-closed and never a crash. The timer is unref'd: it never keeps a
 * process alive.
 */
import { randomBytes } from 'node:crypto';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { getConfig } from '../platform/config';
import { isNotFound, TABLES, table } from '../platform/storage';
import { CallerMeters, type Meter, type Quantity } from './meters';
import { LIMIT_KINDS, type LimitKind } from './settings';

/** This process. Random per start, so a restarted instance never mistakes an old row for its own. */
export const INSTANCE_ID = randomBytes(6).toString('hex');

export const minutePartition = (index: number) => `m:${index}`;
export const dayPartition = (index: number) => `d:${new Date(index * 86_400_000).toISOString().slice(0, 10)}`;
export const hourKey = (now: number) => new Date(now).toISOString().slice(0, 13);
export const rejectionPartition = (hour: string) => `r:${hour}`;

/** Property names of a rejection row, by kind. */
export const REJECTION_PROPERTY: Record<LimitKind, string> = {
  requests_per_minute: 'requestsPerMinute',
  tokens_per_minute: 'tokensPerMinute',
  tokens_per_day: 'tokensPerDay',
};

interface CounterRow {
  partitionKey: string;
  rowKey: string;
  instance: string;
  callerId: string;
  at: number;
  requests?: number;
  tokens?: number;
  boundRequests?: number;
  boundTokens?: number;
}

const BATCH = 100;

/** The per-process state: every caller's meters, who else is alive, and the reconcile loop. */
export class Reconciler {
  readonly callers = new Map<string, CallerMeters>();
  /** Other instances and when they last wrote (their own clock). */
  private readonly seen = new Map<string, number>();
  /** Own rows written per partition, to delete once the window has passed. */
  private readonly written = new Map<string, Set<string>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private first: Promise<void> | undefined;
  private failing = false;

  constructor(readonly syncMs = getConfig().limitSyncIntervalMs) {}

  meters(callerId: string): CallerMeters {
    let m = this.callers.get(callerId);
    if (!m) {
      m = new CallerMeters(callerId);
      this.callers.set(callerId, m);
    }
    return m;
  }

  /** Live instances, this one included: those that wrote within three intervals. */
  instances(now = Date.now()): number {
    const horizon = now - Math.max(3 * this.syncMs, 3_000);
    let n = 1;
    for (const [id, at] of this.seen) {
      if (at >= horizon) n++;
      else this.seen.delete(id);
    }
    return n;
  }

  /**
   * Starts the loop on first use and resolves after the first reconcile (at most 2 s, even if storage is down),
   * so a new instance learns of the others before it admits anything: one storage round trip per process.
   */
  start(): Promise<void> {
    if (!this.first) {
      this.timer = setInterval(() => void this.sync(), this.syncMs);
      this.timer.unref();
      const limit = new Promise<void>((resolve) => setTimeout(resolve, 2_000).unref());
      this.first = Promise.race([this.sync(), limit]);
    }
    return this.first;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.first = undefined;
  }

  /** One reconcile; never throws, never overlaps another. */
  sync(now = Date.now()): Promise<void> {
    this.running ??= this.reconcile(now)
      .then(
        () => {
          if (this.failing) console.warn(JSON.stringify({ event: 'limits.sync_recovered' }));
          this.failing = false;
        },
        (e: unknown) => {
          if (!this.failing) {
            console.warn(
              JSON.stringify({
                event: 'limits.sync_failed',
                error: e instanceof Error ? e.message : String(e),
                note: 'rate limits are enforced per instance until storage answers again',
              }),
            );
          }
          this.failing = true;
          // The shares are renewed even so: each instance goes on with what it knows (fail-open).
          this.renewBounds(Date.now());
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async reconcile(now: number): Promise<void> {
    const limits = await table(TABLES.limits);
    const minute = minutePartition(Math.floor(now / 60_000));
    const day = dayPartition(Math.floor(now / 86_400_000));
    await this.dropPassed(limits, minute, day);
    const minuteRows: CounterRow[] = [
      { partitionKey: minute, rowKey: `${INSTANCE_ID}|`, instance: INSTANCE_ID, callerId: '', at: now },
    ];
    const dayRows: CounterRow[] = [];
    const rejectionRows = new Map<string, Record<string, unknown>[]>();
    const written: CallerMeters[] = [];
    let anyDay = false;
    for (const m of [...this.callers.values()]) {
      m.minute.at(now);
      m.day.at(now);
      if (isIdle(m)) {
        this.callers.delete(m.callerId);
        continue;
      }
      // Meters made by a correction alone (settleTokens) do not know the limits: their day row is written too.
      const daily = m.limits === undefined || m.limits.tokens_per_day !== null;
      if (daily) anyDay = true;
      if (m.minute.dirty) minuteRows.push(this.row(minute, m.callerId, m.minute, now));
      if (m.day.dirty && daily) dayRows.push(this.row(day, m.callerId, m.day, now));
      if (m.rejectionsDirty) {
        for (const [hour, counts] of m.rejections) {
          const partitionKey = rejectionPartition(hour);
          const row: Record<string, unknown> = {
            partitionKey,
            rowKey: `${INSTANCE_ID}|${m.callerId}`,
            instance: INSTANCE_ID,
            callerId: m.callerId,
          };
          for (const kind of LIMIT_KINDS) row[REJECTION_PROPERTY[kind]] = counts[kind];
          rejectionRows.set(partitionKey, [...(rejectionRows.get(partitionKey) ?? []), row]);
        }
      }
      written.push(m);
    }
    await Promise.all([
      this.upsert(limits, minuteRows),
      this.upsert(limits, dayRows),
      ...[...rejectionRows.values()].map((rows) => this.upsert(limits, rows, false)),
    ]);
    // Written: clean until they change again, and the others know these bounds now. Only the current hour's
    // rejections can still grow.
    const wroteMinute = new Set(minuteRows.map((r) => r.callerId));
    const wroteDay = new Set(dayRows.map((r) => r.callerId));
    for (const m of written) {
      if (wroteMinute.has(m.callerId)) m.minute.published = true;
      if (wroteDay.has(m.callerId)) m.day.published = true;
      m.minute.dirty = false;
      m.day.dirty = false;
      m.rejectionsDirty = false;
      for (const hour of m.rejections.keys()) if (hour !== hourKey(now)) m.rejections.delete(hour);
    }
    const [minuteSeen, daySeen] = await Promise.all([
      this.read(limits, minute),
      anyDay ? this.read(limits, day) : Promise.resolve([]),
    ]);
    this.absorb(minuteSeen, 'minute', now);
    this.absorb(daySeen, 'day', now);
    this.renewBounds(now);
  }

  private row(partitionKey: string, callerId: string, meter: Meter, now: number): CounterRow {
    const bound = (q: Quantity) =>
      Number.isFinite(meter.bound[q]) ? Math.max(meter.bound[q], meter.local[q]) : meter.local[q];
    return {
      partitionKey,
      rowKey: `${INSTANCE_ID}|${callerId}`,
      instance: INSTANCE_ID,
      callerId,
      at: now,
      requests: meter.local.requests,
      tokens: meter.local.tokens,
      boundRequests: bound('requests'),
      boundTokens: bound('tokens'),
    };
  }

  private async upsert(limits: TableClient, rows: object[], track = true): Promise<void> {
    for (let i = 0; i < rows.length; i += BATCH) {
      const chunk = rows.slice(i, i + BATCH) as CounterRow[];
      await limits.submitTransaction(chunk.map((r): TransactionAction => ['upsert', { ...r }, 'Replace']));
      if (!track) continue;
      for (const r of chunk) {
        const set = this.written.get(r.partitionKey) ?? new Set<string>();
        set.add(r.rowKey);
        this.written.set(r.partitionKey, set);
      }
    }
  }

  private async read(limits: TableClient, partition: string): Promise<CounterRow[]> {
    const rows: CounterRow[] = [];
    for await (const row of limits.listEntities<CounterRow>({
      queryOptions: { filter: `PartitionKey eq '${partition}'` },
    })) {
      rows.push(row);
    }
    return rows;
  }

  /** Takes the other instances' rows of the current window into the meters. */
  private absorb(rows: CounterRow[], window: 'minute' | 'day', now: number): void {
    if (window === 'minute') {
      for (const row of rows) {
        if (row.instance !== INSTANCE_ID)
          this.seen.set(row.instance, Math.max(this.seen.get(row.instance) ?? 0, row.at));
      }
    }
    const horizon = now - Math.max(3 * this.syncMs, 3_000);
    const sums = new Map<
      string,
      { count: Record<Quantity, number>; bound: Record<Quantity, number>; live: number }
    >();
    for (const row of rows) {
      if (row.instance === INSTANCE_ID || !row.callerId) continue;
      const alive = (this.seen.get(row.instance) ?? 0) >= horizon;
      const s = sums.get(row.callerId) ?? {
        count: { requests: 0, tokens: 0 },
        bound: { requests: 0, tokens: 0 },
        live: 0,
      };
      if (alive) s.live++;
      for (const q of ['requests', 'tokens'] as const) {
        const count = Number(row[q] ?? 0);
        const bound = Number(row[q === 'requests' ? 'boundRequests' : 'boundTokens'] ?? count);
        s.count[q] += count;
        // A dead instance admits nothing more: only what it counted is taken.
        s.bound[q] += alive ? Math.max(bound, count) : count;
      }
      sums.set(row.callerId, s);
    }
    const others = this.instances(now) - 1;
    for (const m of this.callers.values()) {
      const meter = m[window].at(now);
      const s = sums.get(m.callerId);
      meter.rowlessOthers = Math.max(0, others - (s?.live ?? 0));
      for (const q of ['requests', 'tokens'] as const) {
        meter.remote[q] = s?.count[q] ?? 0;
        meter.remoteBound[q] = s?.bound[q] ?? 0;
      }
    }
  }

  /** New shares for every caller: each instance takes 1/n of what nobody has claimed. */
  private renewBounds(now: number): void {
    const n = this.instances(now);
    for (const m of this.callers.values()) {
      const limits = m.limits;
      if (!limits) continue;
      const pairs: [Meter, Quantity, number | null][] = [
        [m.minute.at(now), 'requests', limits.requests_per_minute],
        [m.minute, 'tokens', limits.tokens_per_minute],
        [m.day.at(now), 'tokens', limits.tokens_per_day],
      ];
      for (const [meter, q, limit] of pairs)
        meter.bound[q] = limit === null ? Infinity : meter.share(q, limit, n);
    }
  }

  /** Deletes this instance's own rows of windows that have passed (best effort: a failure is tried again). */
  private async dropPassed(limits: TableClient, minute: string, day: string): Promise<void> {
    for (const [partition, rows] of this.written) {
      if (partition === minute || partition === day) continue;
      const keys = [...rows];
      try {
        for (let i = 0; i < keys.length; i += BATCH) {
          await limits.submitTransaction(
            keys
              .slice(i, i + BATCH)
              .map((rowKey): TransactionAction => ['delete', { partitionKey: partition, rowKey }]),
          );
        }
        this.written.delete(partition);
      } catch (e) {
        // Gone already (someone cleaned up): nothing left to do. Anything else: the next sync tries again.
        if (isNotFound(e)) this.written.delete(partition);
      }
    }
  }
}

/** Nothing counted in the current windows and nothing left to write: the caller's meters can go. */
function isIdle(m: CallerMeters): boolean {
  return (
    !m.minute.dirty &&
    !m.day.dirty &&
    !m.rejectionsDirty &&
    m.minute.local.requests === 0 &&
    m.day.local.requests === 0 &&
    m.minute.local.tokens === 0 &&
    m.day.local.tokens === 0 &&
    m.rejections.size === 0
  );
}
