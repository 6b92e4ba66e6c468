/**
 * Reconciling the local buckets across instances, off the request path. Every LIMIT_SYNC_INTERVAL_MS each
 * instance writes its heartbeat, reads the window's rows, and commits its claims:
 *
 *   partition `m:<minute number>`  row `h|<instance>`   its heartbeat (who is alive, for the shares);
 *                                  row `c|<caller id>`  every instance's count and claim of that caller that minute;
 *   partition `d:<YYYY-MM-DD>`     row `c|<caller id>`  the same for tokens that UTC day;
 *   partition `r:<YYYY-MM-DDTHH>`  row `<instance>|<caller id>`  its 429s of that hour by limit kind.
 *
 * A caller's row is shared: an instance replaces its own entry in it only under the row's ETag, so each claim is
 * computed from the others' claims as they are in storage, and on a conflict it reads the row again and
 * recomputes. That is what keeps the claims together within the limit however the reconciles of several
 * instances interleave or lag. A claim may be used until its lease ends (LEASE_MS after it was computed); an
 * instance whose reconcile is late holds at its count instead, so the others can count a stopped instance's
 * claim as given back FREE_AFTER_MS after it was last renewed without anyone admitting on the same room twice.
 * An instance deletes the rows it wrote of windows that have passed; rejection rows are kept (they are what
 * `listRejections` reports).
 *
 * Storage unreachable: the sync fails quietly (one warning per outage); each instance keeps to its claim while
 * the lease runs and then enforces the limits with its local buckets and the last counts it read, i.e. fail-open
 * across instances (a caller may get up to the limit on each instance), never fail-closed and never a crash. The
 * timer is unref'd: it never keeps a process alive.
 */
import { randomBytes } from 'node:crypto';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { getConfig } from '../platform/config';
import { isConcurrencyConflict, isNotFound, TABLES, table } from '../platform/storage';
import {
  absorbEntries,
  type ClaimsRow,
  claimsRowKey,
  dayPartition,
  entriesOf,
  type Entry,
  freeAfterMs,
  heartbeatRowKey,
  leaseMs,
  minutePartition,
  type Window,
  windowLimits,
  withEntry,
} from './claims';
import { dropPassed, scheduleLimitsSweep } from './cleanup';
import { CallerMeters, charge, type Quantity, refusal } from './meters';
import { writeRejections } from './rejections';
import type { Limits } from './settings';

/** This process. Random per start, so a restarted instance never mistakes an old row for its own. */
export const INSTANCE_ID = randomBytes(6).toString('hex');

/** Commits of one row tried again on an ETag conflict before the claim is left for the next reconcile. */
const COMMIT_ATTEMPTS = 3;

const BATCH = 100;

/** One claim to commit: the caller's meter of a window, and the row it was computed from. */
interface Plan {
  m: CallerMeters;
  window: Window;
  row: ClaimsRow | undefined;
  entry: Entry;
}

/** The per-process state: every caller's meters, who else is alive, and the reconcile loop. */
export class Reconciler {
  readonly callers = new Map<string, CallerMeters>();
  /** Other instances and when they last wrote their heartbeat (their own clock). */
  private readonly seen = new Map<string, number>();
  /** Rows written per partition, to delete once the window has passed. */
  private readonly written = new Map<string, Set<string>>();
  /** The callers' rows of the current windows at the last read, for meters made since. */
  private lastRead: Record<Window, { partition: string; rows: Map<string, ClaimsRow> }> = {
    minute: { partition: '', rows: new Map() },
    day: { partition: '', rows: new Map() },
  };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private first: Promise<void> | undefined;
  /** The last reconcile could not reach storage. */
  failing = false;

  /** `instance`: another id only for tests running several instances in one process. */
  constructor(
    readonly syncMs = getConfig().limitSyncIntervalMs,
    readonly instance = INSTANCE_ID,
  ) {}

  meters(callerId: string): CallerMeters {
    let m = this.callers.get(callerId);
    if (!m) this.callers.set(callerId, (m = new CallerMeters(callerId)));
    return m;
  }

  /** Heartbeats count as live for as long as a lease runs. */
  private liveHorizon(now: number): number {
    return now - leaseMs(this.syncMs);
  }

  /** Live instances, this one included. */
  instances(now = Date.now()): number {
    return this.liveOthers(now).length + 1;
  }

  private liveOthers(now: number): string[] {
    const horizon = this.liveHorizon(now);
    const live: string[] = [];
    for (const [id, at] of this.seen) {
      if (at >= horizon) live.push(id);
      else this.seen.delete(id);
    }
    return live;
  }

  /** Admits `cost` for `callerId` under `limits` and counts it, or returns the limit that refuses it. */
  admit(callerId: string, limits: Limits, cost: Record<Quantity, number>, now: number) {
    const m = this.meters(callerId);
    m.limits = limits;
    this.prime(m, now);
    const instances = this.instances(now);
    const verdict = refusal(m, limits, cost, now, instances, this.syncMs, this.failing);
    if (!verdict) charge(m, cost);
    return { m, instances, verdict };
  }

  /**
   * A meter entering a window on this instance takes the others' counts and claims from the last read, so that
   * its start allowance leaves what they claimed.
   */
  private prime(m: CallerMeters, now: number): void {
    for (const window of ['minute', 'day'] as const) {
      const meter = m[window].at(now);
      if (meter.rowlessOthers >= 0) continue;
      const last = this.lastRead[window];
      if (last.partition !== this.partition(window, now)) continue;
      const entries = entriesOf(last.rows.get(m.callerId));
      absorbEntries(meter, entries, this.instance, this.liveOthers(now), now, freeAfterMs(this.syncMs));
    }
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
                note: 'each instance keeps to its claims until their lease ends, then enforces rate limits on its own until storage answers again',
              }),
            );
          }
          this.failing = true;
        },
      )
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private partition(window: Window, now: number): string {
    return window === 'minute'
      ? minutePartition(Math.floor(now / 60_000))
      : dayPartition(Math.floor(now / 86_400_000));
  }

  private async reconcile(now: number): Promise<void> {
    const limits = await table(TABLES.limits);
    await dropPassed(limits, this.written, now);
    const minute = this.partition('minute', now);
    const day = this.partition('day', now);
    const active: CallerMeters[] = [];
    for (const m of [...this.callers.values()]) {
      m.minute.at(now);
      m.day.at(now);
      if (isIdle(m)) this.callers.delete(m.callerId);
      else active.push(m);
    }
    // Meters made by a correction alone (settleTokens) do not know the limits: their day entry is written too.
    const daily = (m: CallerMeters) => m.limits === undefined || m.limits.tokens_per_day !== null;
    const heartbeat = { partitionKey: minute, rowKey: heartbeatRowKey(this.instance), at: now };
    const [, minuteRows, dayRows] = await Promise.all([
      limits.upsertEntity(heartbeat, 'Replace').then(() => this.remember(minute, heartbeat.rowKey)),
      this.read(limits, minute),
      active.some(daily) ? this.read(limits, day) : Promise.resolve([]),
    ]);
    const callerRows = (rows: (ClaimsRow & { at?: number })[]) => {
      const byCaller = new Map<string, ClaimsRow>();
      for (const row of rows) {
        if (row.rowKey.startsWith('h|')) {
          const id = row.rowKey.slice(2);
          if (id !== this.instance) this.seen.set(id, Math.max(this.seen.get(id) ?? 0, Number(row.at ?? 0)));
        } else if (row.rowKey.startsWith('c|')) byCaller.set(row.callerId, row);
      }
      return byCaller;
    };
    this.lastRead = {
      minute: { partition: minute, rows: callerRows(minuteRows) },
      day: { partition: day, rows: callerRows(dayRows) },
    };

    const plans: Plan[] = [];
    const t = Date.now();
    for (const m of active) {
      for (const window of ['minute', 'day'] as const) {
        if (window === 'day' && !daily(m)) continue;
        const plan = this.plan(m, window, this.lastRead[window].rows.get(m.callerId), t);
        if (plan) plans.push(plan);
      }
    }
    await Promise.all([
      ...(['minute', 'day'] as const).map((w) =>
        this.commit(
          limits,
          plans.filter((p) => p.window === w),
        ),
      ),
      writeRejections(limits, this.instance, active, now),
      // Housekeeping: a failure to schedule it must not count as a failed reconcile (it is tried again next time).
      scheduleLimitsSweep(now).catch(() => undefined),
    ]);
  }

  /**
   * The entry this instance would commit for `m` in `window`, computed from `row` as read (its claims recomputed
   * from the others'); undefined when nothing needs writing: counts and claim unchanged and the lease still
   * good for another half of its length.
   */
  private plan(m: CallerMeters, window: Window, row: ClaimsRow | undefined, t: number): Plan | undefined {
    const meter = m[window].at(t);
    const entries = entriesOf(row);
    absorbEntries(meter, entries, this.instance, this.liveOthers(t), t, freeAfterMs(this.syncMs));
    const n = this.instances(t);
    const [limitR, limitT] = windowLimits(m.limits, window);
    const claim = (q: 'requests' | 'tokens', limit: number | null) =>
      limit === null ? meter.local[q] : meter.share(q, limit, n, true);
    const entry: Entry = {
      at: t,
      n: [meter.local.requests, meter.local.tokens],
      c: [claim('requests', limitR), claim('tokens', limitT)],
    };
    const own = entries[this.instance];
    // Nothing counted here yet: no claim to make (a first request keeps to the start allowance).
    if (!own && entry.n[0] === 0 && entry.n[1] === 0) return undefined;
    const same = (a: Entry) =>
      a.n[0] === entry.n[0] &&
      a.n[1] === entry.n[1] &&
      [0, 1].every((i) => Math.abs(a.c[i]! - entry.c[i]!) < 0.5);
    // A claim above the count is renewed before its lease ends; one used up needs no lease.
    const unused = entry.c[0] - entry.n[0] >= 0.5 || entry.c[1] - entry.n[1] >= 0.5;
    const leaseGood = meter.published && meter.leaseUntil - t > leaseMs(this.syncMs) / 2;
    if (own && same(own) && !meter.dirty && (leaseGood || !unused)) return undefined;
    return { m, window, row, entry };
  }

  /**
   * Commits plans under their rows' ETags: batched per 100, and where a batch fails on a conflict, row by row,
   * reading a conflicting row again and recomputing its claim (COMMIT_ATTEMPTS times at most).
   */
  private async commit(limits: TableClient, plans: Plan[]): Promise<void> {
    for (let i = 0; i < plans.length; i += BATCH) {
      const chunk = plans.slice(i, i + BATCH);
      for (const p of chunk) this.shrinkTo(p);
      try {
        await limits.submitTransaction(chunk.map((p) => this.action(p)));
        for (const p of chunk) this.committed(p);
        continue;
      } catch (e) {
        if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
      }
      for (let p of chunk) {
        for (let attempt = 1; ; attempt++) {
          try {
            await limits.submitTransaction([this.action(p)]);
            this.committed(p);
            break;
          } catch (e) {
            if (!isConcurrencyConflict(e) && !isNotFound(e)) throw e;
            if (attempt >= COMMIT_ATTEMPTS) break;
            const fresh = await this.readRow(limits, p);
            const next = this.plan(p.m, p.window, fresh, Date.now());
            if (!next) break;
            p = next;
            this.shrinkTo(p);
          }
        }
      }
    }
  }

  private action(p: Plan): TransactionAction {
    const partitionKey = this.partition(p.window, p.entry.at);
    const entity: ClaimsRow = {
      partitionKey,
      rowKey: claimsRowKey(p.m.callerId),
      callerId: p.m.callerId,
      claims: withEntry(entriesOf(p.row), this.instance, p.entry, p.entry.at, freeAfterMs(this.syncMs)),
    };
    const row = entity as unknown as Record<string, unknown> & { partitionKey: string; rowKey: string };
    return p.row?.etag ? ['update', row, 'Replace', { etag: p.row.etag }] : ['create', row];
  }

  private async readRow(limits: TableClient, p: Plan): Promise<ClaimsRow | undefined> {
    try {
      return await limits.getEntity<ClaimsRow>(
        this.partition(p.window, p.entry.at),
        claimsRowKey(p.m.callerId),
      );
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  /**
   * While a claim is being written, the meter may use only the smaller of what it holds and what it is about
   * to claim: a claim that shrinks applies at once, one that grows only once it is committed.
   */
  private shrinkTo(p: Plan): void {
    const meter = p.m[p.window];
    const [limitR, limitT] = windowLimits(p.m.limits, p.window);
    const n = this.instances(p.entry.at);
    for (const [q, i, limit] of [
      ['requests', 0, limitR],
      ['tokens', 1, limitT],
    ] as const) {
      if (limit === null) continue;
      const now = meter.effectiveBound(q, limit, n, p.entry.at, false);
      meter.bound[q] = Math.min(now, p.entry.c[i]);
    }
  }

  private committed(p: Plan): void {
    const meter = p.m[p.window];
    if (meter.index !== Math.floor(p.entry.at / meter.windowMs)) return;
    meter.bound.requests = p.entry.c[0];
    meter.bound.tokens = p.entry.c[1];
    meter.published = true;
    meter.leaseUntil = p.entry.at + leaseMs(this.syncMs);
    // Counted meanwhile: written with the next reconcile.
    meter.dirty = meter.local.requests !== p.entry.n[0] || meter.local.tokens !== p.entry.n[1];
    this.remember(this.partition(p.window, p.entry.at), claimsRowKey(p.m.callerId));
  }

  private remember(partition: string, rowKey: string): void {
    const set = this.written.get(partition) ?? new Set<string>();
    set.add(rowKey);
    this.written.set(partition, set);
  }

  private async read(limits: TableClient, partition: string): Promise<(ClaimsRow & { at?: number })[]> {
    const rows: (ClaimsRow & { at?: number })[] = [];
    for await (const row of limits.listEntities<ClaimsRow & { at?: number }>({
      queryOptions: { filter: `PartitionKey eq '${partition}'` },
    })) {
      rows.push(row);
    }
    return rows;
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
