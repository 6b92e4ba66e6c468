/**
 * The poll queue: the timer's tick sends one message per claimed job, and the queue-triggered function runs the
 * work (poll-work.ts) on whichever instance takes it, so polling scales out with the app.
 *
 * Messages are JSON, base64-encoded as the Functions queue trigger expects by default (`messageEncoding`). A
 * message whose work throws is retried by the host up to `maxDequeueCount` (host.json) and then moved to the
 * `<queue>-poison` queue, the record of poison messages (README, "Background responses"). Its job is not lost: the due
 * row the claim left comes due again and a later tick claims it afresh.
 */
import { queue } from '../platform/storage';
import { storageNames } from '../platform/storage-names';
import { setTimeout as sleep } from 'node:timers/promises';
import { newPollStats, runPollWork, type PollStats, type PollWork } from './poll-work';
import { openJobStore } from './store';
import type { JobLog } from './types';

/** The message body: the work item without the in-process job row. */
export interface PollMessage {
  kind: PollWork['kind'];
  id: string;
  dueKey: string;
  old: string;
}

/** Sends one claimed job to the poll queue; `meter` counts the message. */
export async function sendPollWork(work: PollWork, meter: { queueMessages: number }): Promise<void> {
  const body: PollMessage = { kind: work.kind, id: work.id, dueKey: work.dueKey, old: work.old };
  const client = await queue(storageNames().pollQueue);
  meter.queueMessages++;
  await client.sendMessage(Buffer.from(JSON.stringify(body)).toString('base64'));
}

/** Reads a message as the trigger hands it over (the parsed JSON object, or its text); undefined if malformed. */
export function parsePollMessage(raw: unknown): PollMessage | undefined {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return undefined;
    }
  }
  const m = value as Partial<PollMessage> | null;
  if (!m || typeof m !== 'object') return undefined;
  if (m.kind !== 'poll' && m.kind !== 'finalize') return undefined;
  if (typeof m.id !== 'string' || typeof m.dueKey !== 'string' || typeof m.old !== 'string') return undefined;
  return { kind: m.kind, id: m.id, dueKey: m.dueKey, old: m.old };
}

/** Upstream asked this instance to slow down until then (epoch ms); shared by the messages it runs. */
let pausedUntil = 0;
/** Longest a message waits here for a 429's hint; a longer hint leaves the job to the next tick's claim. */
const MAX_PAUSE_MS = 30_000;

/**
 * Runs one message's work and returns what it did. Unexpected errors (storage) are thrown so the host retries the
 * message; lost races and upstream failures are not errors of the message (the job is rescheduled or owned by
 * someone else).
 */
export async function runPollMessage(raw: unknown, log: JobLog): Promise<PollStats> {
  const stats = newPollStats();
  const work = parsePollMessage(raw);
  if (!work) {
    // Nothing to retry: a malformed message stays malformed. Logged, then dropped.
    log.error(
      JSON.stringify({ event: 'poller.bad_message', message: String(JSON.stringify(raw)).slice(0, 200) }),
    );
    stats.errors++;
    return stats;
  }
  const wait = pausedUntil - Date.now();
  if (wait > 0) {
    if (wait > MAX_PAUSE_MS) {
      stats.skipped++;
      return stats;
    }
    await sleep(wait);
  }
  const store = await openJobStore(stats);
  await runPollWork(
    {
      store,
      stats,
      log,
      clock: Date.now,
      deadline: Infinity,
      pause: (until) => (pausedUntil = Math.max(pausedUntil, until)),
    },
    work,
  );
  return stats;
}
