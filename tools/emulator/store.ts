import type { FileObject } from 'openai/resources/files';
import type { Response, ResponseItem, ResponseStreamEvent } from 'openai/resources/responses/responses';

/** A live SSE connection following one response. */
export interface Subscriber {
  send(event: ResponseStreamEvent): void;
  /** Ends the connection; `cut` drops it without a terminal event (fault injection). */
  end(): void;
}

/** One planned stream event and when (ms after creation) it is due. */
export interface PlannedEvent {
  at: number;
  event: DistributiveOmit<ResponseStreamEvent, 'sequence_number'>;
}

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

export interface ResponseRecord {
  id: string;
  /** `store: true`: retrievable, chainable, deletable. */
  stored: boolean;
  /** Created with `stream: true`: the only responses whose events can be replayed. */
  stream: boolean;
  background: boolean;
  /** What a GET shows now; moves with the emitted events. */
  snapshot: Response;
  /** Every item the model saw (earlier turns included), with ids: what `input_items` lists. */
  inputItems: ResponseItem[];
  /** Input tokens of this turn, reused as the cached prefix of the next one. */
  inputTokens: number;
  plan: PlannedEvent[];
  /** Events emitted so far, `sequence_number` = index. */
  events: ResponseStreamEvent[];
  subscribers: Set<Subscriber>;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  /** No more events will be emitted (terminal, cancelled or deleted). */
  finished: boolean;
  /** Fault `stuck_queued`: stays queued until cancelled or deleted. */
  stuck: boolean;
  /** Fault `cancel_then_completed`: cancel answers `cancelled` but the run goes on. */
  ignoreCancel: boolean;
  /** Rough size, for the memory bound. */
  bytes: number;
}

/** Responses in memory; the oldest finished ones go first when either bound is reached. */
export class ResponseStore {
  private readonly records = new Map<string, ResponseRecord>();
  private totalBytes = 0;

  constructor(
    private readonly maxRecords: number,
    private readonly maxBytes: number,
  ) {}

  add(record: ResponseRecord): void {
    if (!record.stored) return;
    this.records.set(record.id, record);
    this.totalBytes += record.bytes;
    for (const [id, r] of this.records) {
      if (this.records.size <= this.maxRecords && this.totalBytes <= this.maxBytes) break;
      if (r.finished && r !== record) this.delete(id);
    }
  }

  get(id: string): ResponseRecord | undefined {
    return this.records.get(id);
  }

  delete(id: string): boolean {
    const record = this.records.get(id);
    if (!record) return false;
    this.totalBytes -= record.bytes;
    return this.records.delete(id);
  }

  get size(): number {
    return this.records.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get running(): number {
    let n = 0;
    for (const r of this.records.values()) if (!r.finished) n++;
    return n;
  }

  all(): IterableIterator<ResponseRecord> {
    return this.records.values();
  }

  /** Finds an item by id in any stored response (for `item_reference` inputs). */
  findItem(id: string): ResponseItem | undefined {
    for (const record of this.records.values()) {
      const hit =
        record.snapshot.output.find((item) => 'id' in item && item.id === id) ??
        record.inputItems.find((item) => 'id' in item && item.id === id);
      if (hit) return hit as ResponseItem;
    }
    return undefined;
  }
}

export interface FileRecord {
  object: FileObject;
  data: Buffer;
  /** Extracted PDF text, cached after the first parse. */
  pdf?: { text: string; pages: number };
}

export class FileStore {
  private readonly files = new Map<string, FileRecord>();
  private totalBytes = 0;

  constructor(private readonly maxTotalBytes: number) {}

  canAccept(bytes: number): boolean {
    return this.totalBytes + bytes <= this.maxTotalBytes;
  }

  add(record: FileRecord): void {
    this.files.set(record.object.id, record);
    this.totalBytes += record.data.length;
  }

  get(id: string): FileRecord | undefined {
    return this.files.get(id);
  }

  delete(id: string): boolean {
    const record = this.files.get(id);
    if (!record) return false;
    this.totalBytes -= record.data.length;
    return this.files.delete(id);
  }

  list(): FileRecord[] {
    return [...this.files.values()];
  }

  get size(): number {
    return this.files.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }
}
