/**
 * The poller split in two over a real Azurite queue: the tick selects and claims and sends one message per job;
 * the worker (what the queue-triggered function runs) polls, finalizes and reschedules. Exactly-once, the
 * backstop for lost messages, and the cost of an idle tick hold as with the one-process tick.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  registerJobFinalizer,
  runPollerTick,
  runPollMessage,
  sendPollWork,
  trackBackgroundJob,
  type FinalizerContext,
  type PollerTickStats,
} from '../../shared/jobs';
import { unregisterJobFinalizer } from '../../shared/jobs/finalizers';
import { openJobStore, readJob } from '../../shared/jobs/store';
import { getConfig } from '../../shared/platform/config';
import { queue } from '../../shared/platform/storage';
import { storageNames, useStorageNamesForTests } from '../../shared/platform/storage-names';
import { startJobsEnv, uniqueSuffix, until, type JobsEnv } from './support/jobs-env';

let env: JobsEnv;

beforeAll(async () => {
  env = await startJobsEnv();
});

afterAll(async () => {
  await env.close();
});

afterEach(() => {
  unregisterJobFinalizer('response');
  useStorageNamesForTests(env.names);
});

/** A table and queue of the test's own. */
function isolate(): void {
  const s = uniqueSuffix();
  useStorageNamesForTests({ ...env.names, jobs: `${env.names.jobs}q${s}`, pollQueue: `pollq-${s}` });
}

const tick = (now = Date.now()) => runPollerTick({ log: env.log, now, dispatch: sendPollWork });

/** Takes every visible message, as the trigger would, and returns their decoded bodies (deleted). */
async function takeMessages(): Promise<unknown[]> {
  const client = await queue(storageNames().pollQueue);
  const bodies: unknown[] = [];
  for (;;) {
    const batch = await client.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
    if (batch.receivedMessageItems.length === 0) return bodies;
    for (const m of batch.receivedMessageItems) {
      bodies.push(JSON.parse(Buffer.from(m.messageText, 'base64').toString('utf8')));
      await client.deleteMessage(m.messageId, m.popReceipt);
    }
  }
}

async function track(metadata: Record<string, string> = {}) {
  const response = await env.createBackground(metadata);
  await trackBackgroundJob({ caller: env.caller, response, kind: 'response', deployment: 'gpt-4.1' });
  return response;
}

const phase = async (id: string) => (await readJob(await openJobStore(), id))?.phase;

describe('poll queue', () => {
  it('an idle tick costs one query per partition, sends nothing and calls no upstream', async () => {
    isolate();
    const before = await env.upstreamCalls('GET /responses/{id}');
    const stats = await tick();
    expect(stats).toMatchObject({
      due: 0,
      dispatched: 0,
      queueMessages: 0,
      upstreamCalls: 0,
      tableReads: 0,
      tableWrites: 0,
      tableQueries: getConfig().dueIndexPartitions,
    });
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(before);
    expect(await takeMessages()).toEqual([]);
  });

  it('the tick claims and sends one message per due job; the worker polls and finalizes each exactly once', async () => {
    isolate();
    const finalized = new Map<string, number>();
    registerJobFinalizer('response', (ctx: FinalizerContext) => {
      finalized.set(ctx.job.responseId, (finalized.get(ctx.job.responseId) ?? 0) + 1);
      return Promise.resolve();
    });
    const ids = (await Promise.all(Array.from({ length: 6 }, () => track()))).map((r) => r.id);
    const ticks: PollerTickStats[] = [];
    const work: unknown[] = [];
    await until(
      'jobs to be finalized through the queue',
      async () => {
        const before = await env.upstreamCalls('GET /responses/{id}');
        const stats = await tick(Date.now() + 1_000);
        ticks.push(stats);
        // The tick itself never calls the upstream: every poll is the worker's.
        expect(stats.upstreamCalls).toBe(0);
        expect(await env.upstreamCalls('GET /responses/{id}')).toBe(before);
        expect(stats.queueMessages).toBe(stats.dispatched);
        const messages = await takeMessages();
        expect(messages.length).toBe(stats.dispatched);
        // Every message twice, as a redelivery would: the second run finds its claim taken or spent.
        for (const m of [...messages, ...messages]) work.push(await runPollMessage(m, env.log));
        const phases = await Promise.all(ids.map(phase));
        return phases.every((p) => p === 'finalized');
      },
      30_000,
    );
    expect(ticks[0]!.dispatched).toBe(ids.length);
    for (const id of ids) expect(finalized.get(id)).toBe(1);
    expect(work.length).toBeGreaterThan(0);
  });

  it('a lost message leaves its job due: a later tick claims it again and it still ends', async () => {
    isolate();
    const response = await track();
    const first = await tick(Date.now() + 1_000);
    expect(first.dispatched).toBe(1);
    // The message is dropped (a poison message, a queue outage): nobody polls.
    expect(await takeMessages()).toHaveLength(1);
    const claimed = (await readJob(await openJobStore(), response.id))!;
    expect(claimed.pollCount).toBe(1);

    await until('the job to end through the backstop', async () => {
      const stats = await tick(Date.now() + 60_000);
      for (const m of await takeMessages()) await runPollMessage(m, env.log);
      expect(stats.errors).toBe(0);
      return (await phase(response.id)) === 'finalized';
    });
  });

  it('a stale or malformed message changes nothing and calls no upstream', async () => {
    isolate();
    const response = await track();
    await tick(Date.now() + 1_000);
    const [message] = (await takeMessages()) as { dueKey: string }[];
    // A later claim supersedes this message's.
    await tick(Date.now() + 120_000);
    await takeMessages();
    const before = await env.upstreamCalls('GET /responses/{id}');
    const row = (await readJob(await openJobStore(), response.id))!;
    expect(row.dueKey).not.toBe(message!.dueKey);
    expect(await runPollMessage(message, env.log)).toMatchObject({ skipped: 1, upstreamCalls: 0 });
    expect(await runPollMessage({ kind: 'poll' }, env.log)).toMatchObject({ errors: 1, upstreamCalls: 0 });
    expect(await runPollMessage('not json', env.log)).toMatchObject({ errors: 1, upstreamCalls: 0 });
    expect(await env.upstreamCalls('GET /responses/{id}')).toBe(before);
    expect((await readJob(await openJobStore(), response.id))!.etag).toBe(row.etag);
  });
});
