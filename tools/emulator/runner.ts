import type { Response, ResponseUsage } from 'openai/resources/responses/responses';
import { badRequest } from './errors';
import { TERMINAL_EVENTS, responseErrorCode, type UnsequencedEvent } from './events';
import { outputTextOf } from './response';
import type { PlannedEvent, ResponseRecord, Subscriber } from './store';

export type Timing =
  /** Everything at once (a plain synchronous create). */
  | { kind: 'instant' }
  /** One event every `delayMs` (a foreground stream). */
  | { kind: 'spaced'; delayMs: number }
  /** queued → in_progress (at 20%) → items → terminal at `durationMs` (background mode). */
  | { kind: 'background'; durationMs: number };

/** When each event is due, in ms after the start. */
export function schedule(events: UnsequencedEvent[], timing: Timing): PlannedEvent[] {
  if (timing.kind === 'instant') return events.map((event) => ({ at: 0, event }));
  if (timing.kind === 'spaced') return events.map((event, i) => ({ at: i * timing.delayMs, event }));
  const d = timing.durationMs;
  const inProgress = events.findIndex((e) => e.type === 'response.in_progress');
  const rest = events.length - inProgress - 1;
  return events.map((event, i) => {
    if (i < inProgress) return { at: 0, event };
    if (i === inProgress) return { at: Math.round(d * 0.2), event };
    return { at: Math.round(d * 0.2 + ((i - inProgress) * d * 0.8) / rest), event };
  });
}

/** Usage of a response stopped early: its input, and the output finished so far (about 4 characters a token). */
function usageSoFar(record: ResponseRecord): ResponseUsage {
  const output =
    Math.ceil(JSON.stringify(record.snapshot.output).length / 4) * (record.snapshot.output.length ? 1 : 0);
  return {
    input_tokens: record.inputTokens,
    input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: record.inputTokens + output,
  };
}

/**
 * Plays each response's planned events over time: updates what GET shows, feeds live SSE subscribers, and
 * keeps the emitted events so a stream can be resumed with `starting_after`.
 */
export interface RunnerHooks {
  /** Told once per response when it stops for good, whatever the reason (billing). */
  onFinished?: (record: ResponseRecord) => void;
  /** A background response reached its own end (not a delete or shutdown); webhooks.ts. */
  onBackgroundEnd?: (record: ResponseRecord) => void;
}

export class Runner {
  private readonly live = new Set<ResponseRecord>();
  private readonly waiters = new WeakMap<ResponseRecord, Array<() => void>>();

  constructor(private readonly hooks: RunnerHooks = {}) {}

  start(record: ResponseRecord): void {
    this.live.add(record);
    record.startedAt = Date.now();
    this.pump(record);
  }

  /** Resolves when no more events will be emitted. */
  whenFinished(record: ResponseRecord): Promise<void> {
    if (record.finished) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(record) ?? [];
      list.push(resolve);
      this.waiters.set(record, list);
    });
  }

  /** Replays the events after `startingAfter`, then follows live until the response finishes. */
  attach(record: ResponseRecord, subscriber: Subscriber, startingAfter = -1): void {
    for (const event of record.events) {
      if (event.sequence_number > startingAfter) subscriber.send(event);
    }
    if (record.finished) subscriber.end();
    else record.subscribers.add(subscriber);
  }

  detach(record: ResponseRecord, subscriber: Subscriber): void {
    record.subscribers.delete(subscriber);
  }

  /** Cancels a background response; idempotent, answers the final object. */
  cancel(record: ResponseRecord): Response {
    if (!record.background) {
      throw badRequest(
        'Only responses created with background=true can be cancelled.',
        null,
        'invalid_request',
      );
    }
    if (record.finished) return record.snapshot;
    if (record.ignoreCancel) {
      // Azure sometimes acknowledges a cancel and completes the response anyway (fault `cancel_then_completed`).
      return { ...record.snapshot, status: 'cancelled', usage: usageSoFar(record) };
    }
    record.snapshot = { ...record.snapshot, status: 'cancelled', usage: usageSoFar(record) };
    this.finish(record, true);
    return record.snapshot;
  }

  /**
   * A foreground response whose connection closed before it ended: the service stops generating it (the
   * how-to: "To cancel a synchronous response, terminate the connection directly"). Background ones go on.
   */
  abandon(record: ResponseRecord): void {
    if (record.background || record.finished) return;
    record.snapshot = { ...record.snapshot, status: 'cancelled', usage: usageSoFar(record) };
    this.finish(record, false);
  }

  /** Stops a response for good (delete, shutdown). */
  stop(record: ResponseRecord): void {
    if (!record.finished) this.finish(record, false);
  }

  stopAll(): void {
    for (const record of [...this.live]) this.stop(record);
  }

  /** `ended`: the response reached its own end (a terminal event, a cancel), not a stop. */
  private finish(record: ResponseRecord, ended: boolean): void {
    clearTimeout(record.timer);
    record.timer = undefined;
    record.finished = true;
    this.live.delete(record);
    this.hooks.onFinished?.(record);
    for (const subscriber of record.subscribers) subscriber.end();
    record.subscribers.clear();
    for (const resolve of this.waiters.get(record) ?? []) resolve();
    this.waiters.delete(record);
    if (ended && record.background) this.hooks.onBackgroundEnd?.(record);
  }

  private pump(record: ResponseRecord): void {
    record.timer = undefined;
    while (!record.finished && record.events.length < record.plan.length) {
      const next = record.plan[record.events.length];
      if (!next) break;
      if (record.stuck && next.event.type !== 'response.created' && next.event.type !== 'response.queued')
        return;
      const wait = record.startedAt + next.at - Date.now();
      if (wait > 0) {
        record.timer = setTimeout(() => this.pump(record), wait);
        return;
      }
      this.emit(record, next.event);
    }
  }

  private emit(record: ResponseRecord, planned: UnsequencedEvent): void {
    const event = { ...planned, sequence_number: record.events.length };
    record.events.push(event);
    if ('response' in event) {
      record.snapshot = event.response;
    } else if (event.type === 'error') {
      // Stored as the service would: failed with that error (a `response.failed` may still follow and override).
      record.snapshot = {
        ...record.snapshot,
        status: 'failed',
        error: { code: responseErrorCode(event.code), message: event.message },
        usage: usageSoFar(record),
      };
    } else if (event.type === 'response.output_item.done') {
      const output = [...record.snapshot.output, event.item];
      record.snapshot = { ...record.snapshot, output, output_text: outputTextOf(output) };
    }
    for (const subscriber of record.subscribers) subscriber.send(event);
    // The plan's last event ends the run even when it is not a terminal one (an `error` event alone).
    if (TERMINAL_EVENTS.has(event.type) || record.events.length === record.plan.length)
      this.finish(record, true);
  }
}
