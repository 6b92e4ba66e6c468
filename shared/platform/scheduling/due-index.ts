/**
 * The due index is a set of table partitions (`due`, `due-1`, … `due-<N-1>`, N = DUE_INDEX_PARTITIONS) whose RowKeys start with the 13-digit epoch ms they are due at, so
 * "everything due by now" is one range query per partition (`RowKey lt '<now + 1 ms>'`) that reads only due rows,
 * however many rows wait for later. Azure serves about 2,000 entities a second per partition, so the rows are
 * spread by a hash of the id they name: all rows of one record share a partition (a move's add and delete can go
 * in one transaction) and the load of many records spreads evenly. The key handed out says its partition
 * (`<i>/<RowKey>`, bare `<RowKey>` for partition 0, the format of earlier releases), so a row stays reachable
 * if the number of partitions changes. Index rows are hints: the record they point at holds the authoritative `dueKey` (guarded
 * by its ETag). Moving a record is: add the new index row, write the record (ETag), delete the old row; so a
 * row its record does not point at is either stale (superseded, or its writer lost or crashed) or *pending*
 * (its writer's record write has not landed yet). See {@link DueIndex.dropUnlessPending}.
 *
 * Once the record write has landed, the old row is stale for good, so its delete may wait for the writer's next
 * index write and go with it in one entity group transaction (all rows of a record share a partition): a chain of
 * moves (claim a poll, claim the finalization, finalize) costs one round trip per move instead of two. The order
 * "new row before the record write" is never relaxed: deleting a record's current row before the write that
 * moves it lands could leave the record pointing at a missing row after a crash, never due again.
 */
import { randomBytes } from 'node:crypto';
import type { TableClient, TransactionAction } from '@azure/data-tables';
import { getConfig } from '../config';
import { odata } from '../sdk';
import { isNotFound } from '../storage';

/** Partition 0 of the due index; the only one before the index was spread (its keys carry no prefix). */
export const DUE_PARTITION = 'due';

/** The PartitionKey of partition `i`. */
export const duePartitionKey = (i: number) => (i === 0 ? DUE_PARTITION : `${DUE_PARTITION}-${i}`);

/** The PartitionKeys of the configured partitions (tests and tools that list every index row). */
export const duePartitionKeys = (count = getConfig().dueIndexPartitions) =>
  Array.from({ length: count }, (_, i) => duePartitionKey(i));

/** The partition of the rows naming `id` (FNV-1a: cheap, stable across processes and releases). */
export function partitionOf(id: string, count: number): number {
  if (count <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % count;
}

/** Where an index key's row lives: its PartitionKey and RowKey. */
export function dueRow(key: string): { partitionKey: string; rowKey: string } {
  const m = /^(\d{1,2})\/(.*)$/s.exec(key);
  if (!m) return { partitionKey: DUE_PARTITION, rowKey: key };
  return { partitionKey: duePartitionKey(Number(m[1])), rowKey: m[2]! };
}

const keyOf = (partition: number, rowKey: string) => (partition === 0 ? rowKey : `${partition}/${rowKey}`);

/** The index key of a stored row (the inverse of {@link dueRow}). */
export const dueKeyOfRow = (partitionKey: string, rowKey: string) =>
  keyOf(partitionKey === DUE_PARTITION ? 0 : Number(partitionKey.slice(DUE_PARTITION.length + 1)), rowKey);

/** A filter matching every due-index partition of a table, whatever their number ('-' sorts before '.'). */
export const ALL_DUE_PARTITIONS_FILTER = `PartitionKey ge '${DUE_PARTITION}' and PartitionKey lt '${DUE_PARTITION}.'`;

/** The index key `add` writes for `id` (tests that build rows by hand). */
export const dueIndexKey = (at: number, id: string, version: number, partitions: number) =>
  keyOf(partitionOf(id, partitions), dueKey(at, id, version));

/** Counts of the storage and upstream calls one tick made (benchmarks report them). */
export interface Meter {
  tableQueries: number;
  tableReads: number;
  tableWrites: number;
  upstreamCalls: number;
  /** Queue messages sent (one per claimed poll when the queue trigger does the work). */
  queueMessages: number;
}

export const newMeter = (): Meter => ({
  tableQueries: 0,
  tableReads: 0,
  tableWrites: 0,
  upstreamCalls: 0,
  queueMessages: 0,
});

const pad = (ms: number) => String(Math.max(0, Math.floor(ms))).padStart(13, '0');

/**
 * RowKey of an index row (partition 0's key; see {@link DueIndex.add} for the key of any partition): sorts by time. Written by this code: `<time>.<version>.<nonce>_<id>`, where `version`
 * is the version of the record the write that points it at this row creates, and `nonce` makes every row its
 * writer's own: two writers that compute the same time (two pollers in the same millisecond, the expiry cap, a
 * lease end) never share a row, so the loser of the ETag race can delete its row without deleting the winner's.
 * Without `version`: `<time>_<id>`, the format of earlier releases (still read).
 */
export function dueKey(at: number, id: string, version?: number): string {
  if (version === undefined) return `${pad(at)}_${id}`;
  return `${pad(at)}.${Math.max(0, Math.floor(version))}.${randomBytes(4).toString('hex')}_${id}`;
}

const KEY = /^(\d{13})(?:\.(\d+)\.[0-9a-f]+)?_(.+)$/s;

/** The parts of an index key; `version` is undefined for keys of the earlier format. */
export function parseDueKey(key: string): { at: number; id: string; version?: number } | undefined {
  const m = KEY.exec(dueRow(key).rowKey);
  if (!m) return undefined;
  return { at: Number(m[1]), id: m[3]!, version: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The id an index row points at. */
export const idFromDueKey = (key: string) => parseDueKey(key)?.id ?? dueRow(key).rowKey.slice(14);

/** What the due index needs of the record an index row names (job row, delivery row). */
export interface DueRecord {
  dueKey: string;
  version: number;
}

interface IndexWrite {
  action: 'upsert' | 'delete';
  partitionKey: string;
  rowKey: string;
  meter: Meter;
  done: (error?: Error) => void;
}

/** Most writes one entity group transaction may hold (Table storage's limit). */
const MAX_BATCH = 100;

/**
 * Group commit of the index row writes of one table. Every write to the `due` partition goes through here, from
 * every tick and request of the process: while one transaction is in flight, the writes that arrive meanwhile
 * queue up and go together in the next one (a lone write goes as a plain request, at once). A poll's index row
 * add and the delete of the row it replaces, from 16 polls in flight, thus share round trips; each write still
 * resolves only once it is stored, so the order "new row, record write, old row" of every writer is kept.
 *
 * A transaction fails as a whole when one of its writes does (a delete of a row a scan removed first): its
 * writes are then made one by one, a missing row being fine for a delete. Meters are charged per round trip,
 * shared out over the writes that made it. A transaction holds one partition's rows only (Table storage's rule):
 * the writes waiting for several partitions go as one transaction per partition, in parallel.
 */
class IndexWriter {
  private queue: IndexWrite[] = [];
  private flushing = false;

  constructor(private readonly table: TableClient) {}

  write(action: IndexWrite['action'], key: string, meter: Meter): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        action,
        ...dueRow(key),
        meter,
        done: (e) => (e === undefined ? resolve() : reject(e)),
      });
      if (!this.flushing) {
        this.flushing = true;
        // One turn of the event loop: the writes of callers that run together join the same request.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      // A transaction may name a row once: a second write to the same row waits for the next one, in order.
      const batches = new Map<string, IndexWrite[]>();
      const rest: IndexWrite[] = [];
      const keys = new Set<string>();
      for (const w of this.queue) {
        const batch = batches.get(w.partitionKey) ?? [];
        const id = `${w.partitionKey}/${w.rowKey}`;
        if (batch.length < MAX_BATCH && !keys.has(id)) {
          batch.push(w);
          batches.set(w.partitionKey, batch);
          keys.add(id);
        } else rest.push(w);
      }
      this.queue = rest;
      await Promise.all([...batches.values()].map((batch) => this.commit(batch)));
    }
    this.flushing = false;
  }

  private async commit(batch: IndexWrite[]): Promise<void> {
    if (batch.length > 1) {
      for (const w of batch) w.meter.tableWrites += 1 / batch.length;
      try {
        await this.table.submitTransaction(
          batch.map((w): TransactionAction =>
            w.action === 'upsert'
              ? ['upsert', { partitionKey: w.partitionKey, rowKey: w.rowKey }, 'Replace']
              : ['delete', { partitionKey: w.partitionKey, rowKey: w.rowKey }],
          ),
        );
        for (const w of batch) w.done();
        return;
      } catch {
        // Made one by one below.
      }
    }
    await Promise.all(batch.map((w) => this.single(w)));
  }

  private async single(w: IndexWrite): Promise<void> {
    w.meter.tableWrites++;
    try {
      if (w.action === 'upsert') {
        await this.table.upsertEntity({ partitionKey: w.partitionKey, rowKey: w.rowKey }, 'Replace');
      } else {
        await this.table.deleteEntity(w.partitionKey, w.rowKey).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
      }
      w.done();
    } catch (e) {
      w.done(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

const writers = new WeakMap<TableClient, IndexWriter>();

function indexWriter(table: TableClient): IndexWriter {
  let writer = writers.get(table);
  if (!writer) {
    writer = new IndexWriter(table);
    writers.set(table, writer);
  }
  return writer;
}

/** The due partitions of a table, seen as one time-ordered queue of ids. */
export class DueIndex {
  constructor(
    private readonly table: TableClient,
    private readonly meter: Meter,
    /** Partitions new rows spread over, and that {@link DueIndex.due} reads. Default DUE_INDEX_PARTITIONS. */
    private readonly partitions = getConfig().dueIndexPartitions,
  ) {}

  /**
   * Adds a new index row for `id` at `at` (epoch ms) and returns its key, unique to this call. `version` is the
   * version the record will have once the ETag-guarded write that points it at this row lands (the version the
   * writer read + 1; 1 for a create). `stale`: rows known stale for good, deleted in the same transaction.
   */
  async add(at: number, id: string, version: number, stale: readonly string[] = []): Promise<string> {
    const key = keyOf(partitionOf(id, this.partitions), dueKey(at, id, version));
    await this.write([key], stale);
    return key;
  }

  /**
   * Removes index rows known to be stale for good (their record moved past them under its ETag), in one
   * transaction. Rows already gone are fine.
   */
  async removeAll(stale: readonly (string | undefined)[]): Promise<void> {
    await this.write([], stale);
  }

  /** Puts `put` and deletes `remove`; queued together, so they go in the same transaction. */
  private async write(put: readonly string[], remove: readonly (string | undefined)[]): Promise<void> {
    const drop = [...new Set(remove)].filter((k): k is string => !!k && !put.includes(k));
    const writer = indexWriter(this.table);
    await Promise.all([
      ...put.map((rowKey) => writer.write('upsert', rowKey, this.meter)),
      ...drop.map((rowKey) => writer.write('delete', rowKey, this.meter)),
    ]);
  }

  /** Writes the index row `rowKey` (again). Idempotent. */
  async put(rowKey: string): Promise<void> {
    await this.write([rowKey], []);
  }

  /**
   * A scan met index row `key` and read its record (`record`, undefined when there is none), which does not
   * point at it. Deletes the row unless it may still become current, and says which it was:
   *
   * - `pending`: the row's version is above the record's, so its writer read the record as it is now and its
   *   ETag-guarded write may still land. Deleting the row then would leave the record pointing at a missing row,
   *   never due again; it is left alone (it is met again next scan, and is stale once the record moves on).
   * - `stale`: the record reached the row's version (the writer's write landed and was superseded, or another
   *   write beat it), or the record is gone, or the key is of the earlier format.
   *
   * A row of version 1 with no record may belong to a create in flight (index row first, then the record). It
   * is deleted and the record read again (`reread`): if the create landed meanwhile, the row is put back. The
   * creator puts its row again after a successful create ({@link DueIndex.put}), so whichever of the two comes
   * last leaves the row in place.
   */
  async dropUnlessPending(
    key: string,
    record: DueRecord | undefined,
    reread: () => Promise<DueRecord | undefined>,
  ): Promise<'stale' | 'pending'> {
    if (record?.dueKey === key) throw new Error(`index row ${key} is current`);
    const version = parseDueKey(key)?.version;
    if (record && version !== undefined && record.version < version) return 'pending';
    await this.remove(key);
    if (!record && version === 1 && (await reread())?.dueKey === key) await this.put(key);
    return 'stale';
  }

  /** Removes an index row; a row already gone is fine. */
  async remove(rowKey: string | undefined): Promise<void> {
    await this.write([], [rowKey]);
  }

  /**
   * Index keys due at or before `now`, oldest first across the partitions, fetched page by page as they are
   * consumed: the first page of every partition is read at once (one query each, however few rows are due), the
   * following pages of a partition when the merge reaches its end.
   */
  async *due(now: number, pageSize = 200): AsyncGenerator<string> {
    const heads = await Promise.all(
      Array.from({ length: this.partitions }, (_, i) => this.partitionPages(i, now, pageSize)),
    );
    const live = heads.filter((h) => h.rows.length > 0);
    while (live.length > 0) {
      let min = 0;
      for (let j = 1; j < live.length; j++) if (live[j]!.rows[0]! < live[min]!.rows[0]!) min = j;
      const head = live[min]!;
      yield keyOf(head.partition, head.rows.shift()!);
      if (head.rows.length === 0 && !(await head.more())) live.splice(min, 1);
    }
  }

  /** The due rows of one partition: the first page now, the next ones on `more()` (false when there are none). */
  private async partitionPages(partition: number, now: number, pageSize: number) {
    const pages = this.table
      .listEntities({
        queryOptions: {
          filter: odata`PartitionKey eq ${duePartitionKey(partition)} and RowKey lt ${pad(now + 1)}`,
          select: ['RowKey'],
        },
      })
      .byPage({ maxPageSize: pageSize });
    const head = {
      partition,
      rows: [] as string[],
      done: false,
      more: (): Promise<boolean> => Promise.resolve(false),
    };
    head.more = async () => {
      // An empty page with a continuation token is possible; read on until rows or the end.
      while (!head.done && head.rows.length === 0) {
        this.meter.tableQueries++;
        const page = await pages.next();
        if (page.done) {
          head.done = true;
          break;
        }
        head.rows.push(...page.value.map((row) => row.rowKey!));
        if (!page.value.continuationToken) head.done = true;
      }
      return head.rows.length > 0;
    };
    await head.more();
    return head;
  }
}
