/**
 * Fault storm: creates (synchronous and streamed) and background jobs while the emulator answers with 429s that
 * carry retry hints, 500s, 503s, added latency, cut streams (ended early or the socket dropped), mid-stream
 * failures (an `error` event then `response.failed`, or the `error` event alone), filtered prompts and filtered
 * completions, responses stuck in `queued` and cancels that the upstream acknowledges and then ignores. (full:
 * 1,000 creates and 200 jobs.)
 *
 * Nothing is lost or finalized twice: every job the caller got an id for reaches one terminal state, with one
 * finalization and one webhook event id. Every error a caller sees is OpenAI-shaped with the status the README
 * promises (429 with retry-after, 502 for upstream failures, 400 `content_filter` with the filter result), and
 * every stream ends with a terminal event or one `error` frame, sequence numbers unbroken
 * (docs/upstream-conditions.md). The host never crashes and logs no unexpected error, and every poller tick
 * stays within its budget.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  SIZES,
  crashLines,
  finalizationsById,
  isOpenAIError,
  pollerTicks,
  pool,
  raw,
  report,
  settledUsage,
  ledgerDifferences,
  sleep,
  sseEvents,
  startReliabilityStack,
  waitForFinalized,
  type Caller,
  type RawResult,
  type ReliabilityStack,
} from './support';

const BUDGET_MS = 4000;
/** A tick stops starting work at its budget; what is in flight then (one poll, capped at 1 s, and its
 * finalization's storage writes) may still finish. */
const BUDGET_SLACK_MS = 5000;

let stack: ReliabilityStack;
let caller: Caller;

beforeAll(async () => {
  stack = await startReliabilityStack({
    settings: {
      POLL_TICK_BUDGET_MS: String(BUDGET_MS),
      // Responses stuck in `queued` are given up on (expired) after this long.
      JOB_MAX_AGE_SECONDS: '40',
      AZURE_OPENAI_TIMEOUT_MS: '10000',
    },
    emulator: { backgroundDurationMs: 2000, streamEventDelayMs: 5 },
  });
  caller = await stack.newCaller('storm');
});

afterAll(async () => {
  await stack?.stop();
});

// The storm's faults are cleared when it ends (a step of the scenario); this also clears them when it fails.
afterEach(async () => {
  await stack?.clearFaults();
});

interface Outcome {
  kind: 'sync' | 'stream' | 'background' | 'cancel';
  status: number;
  problem?: string;
}

/** The status a caller may see during the storm, and whether the body says what the README promises. */
function judge(kind: Outcome['kind'], res: RawResult): Outcome {
  if (res.status === 200) return { kind, status: 200 };
  const out: Outcome = { kind, status: res.status };
  const error = (res.json as { error?: { code?: string; innererror?: { content_filter_result?: unknown } } })
    ?.error;
  if (!isOpenAIError(res.json)) out.problem = `not OpenAI-shaped: ${res.text.slice(0, 200)}`;
  else if (res.status === 400 && error?.code === 'content_filter') {
    if (!error.innererror?.content_filter_result) out.problem = 'content_filter without its filter result';
  } else if (res.status === 429 && !res.headers.get('retry-after')) out.problem = '429 without retry-after';
  else if (res.status === 502 && (res.json as { error: { type: string } }).error.type !== 'upstream_error')
    out.problem = `502 of type ${(res.json as { error: { type: string } }).error.type}`;
  else if (res.status !== 429 && res.status !== 502)
    out.problem = `unexpected status: ${res.text.slice(0, 200)}`;
  return out;
}

async function injectWave(creates: number, jobs: number): Promise<void> {
  const n = (x: number) => Math.max(1, Math.round(x));
  await stack.fault({ kind: '429', retryAfterMs: 300, count: n(creates / 8) });
  await stack.fault({ kind: '500', count: n(creates / 15) });
  await stack.fault({ kind: '503', count: n(creates / 15) });
  await stack.fault({ kind: 'latency', latencyMs: 250, count: n(creates / 8) });
  await stack.fault({ kind: 'stream_cut', afterEvents: 3, count: n(creates / 16) });
  await stack.fault({ kind: 'stream_cut', afterEvents: 6, abort: true, count: n(creates / 24) });
  // Early in the stream, so that `error` and `response.failed` both come before a cut at 3 frames.
  await stack.fault({ kind: 'stream_error', afterEvents: 1, count: n(creates / 8) });
  await stack.fault({ kind: 'stream_error', afterEvents: 2, terminal: false, count: n(creates / 16) });
  await stack.fault({ kind: 'content_filter', target: 'prompt', count: n(creates / 20) });
  await stack.fault({ kind: 'content_filter', target: 'completion', count: n(creates / 20) });
  await stack.fault({ kind: 'stuck_queued', count: n(jobs / 8) });
  await stack.fault({ kind: 'cancel_then_completed', count: n(jobs / 8) });
}

describe('a storm of upstream faults', () => {
  it('loses no job, finalizes none twice, and answers every error in OpenAI shape', async () => {
    const { stormCreates: creates, stormJobs: jobs } = SIZES;
    const started = Date.now();
    const base = stack.baseURL();
    const headers = { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json' };
    const outcomes: Outcome[] = [];
    const jobIds: string[] = [];
    const cancelled = new Set<string>();
    let streamsCut = 0;
    let streamsCompleted = 0;
    const streamEnds: Record<string, number> = {};

    // Work items: creates (70 % synchronous, 30 % streamed) interleaved with background jobs.
    const items: Array<'sync' | 'stream' | 'background'> = [];
    for (let i = 0; i < creates; i++) items.push(i % 10 < 7 ? 'sync' : 'stream');
    for (let j = 0; j < jobs; j++)
      items.splice(Math.floor(((j + 0.5) * items.length) / jobs), 0, 'background');

    await injectWave(creates / 2, jobs / 2);
    await pool(items.length, 12, async (i) => {
      if (i === Math.floor(items.length / 2)) await injectWave(creates / 2, jobs / 2);
      const kind = items[i]!;
      // Marker words filter some prompts and completions whatever the faults do (periods prime to the ten-item
      // pattern of kinds, so that every kind gets some).
      const filter =
        i % 7 === 2 ? ' emulator-filter-completion' : i % 11 === 4 ? ' emulator-filter-prompt' : '';
      const body = JSON.stringify({
        model: 'gpt-4.1',
        input: `Storm request ${i}.${filter}`,
        stream: kind === 'stream' ? true : undefined,
        background: kind === 'background' ? true : undefined,
      });
      const res = await raw(`${base}/responses`, { method: 'POST', headers, body });
      if (kind === 'stream' && res.status === 200) {
        const events = sseEvents(res.text);
        const last = events.at(-1);
        // Every frame numbered in order, the service's own closing `error` frame included.
        const seqs = events.map((e) => e.sequence_number);
        const errors = events.filter((e) => e.type === 'error');
        const outcome: Outcome = { kind, status: 200 };
        const end = last?.type === 'error' ? `error:${last.code}` : (last?.type ?? 'nothing');
        streamEnds[end] = (streamEnds[end] ?? 0) + 1;
        if (seqs.some((s, k) => s !== k)) outcome.problem = `sequence gap: ${seqs.join(',')}`;
        else if (errors.length > 1) outcome.problem = `${errors.length} error frames`;
        else if (errors.some((e) => typeof e.message !== 'string' || !e.code))
          outcome.problem = `error frame without code or message: ${JSON.stringify(errors)}`;
        else if (last?.type === 'response.completed') streamsCompleted++;
        else if (last?.type === 'error') streamsCut++;
        else if (last?.type === 'response.failed' && errors.length === 1) streamsCut++;
        else if (last?.type === 'response.incomplete' && errors.length === 0) streamsCompleted++;
        else outcome.problem = `stream ended with ${last?.type ?? 'nothing'}`;
        outcomes.push(outcome);
        return;
      }
      const outcome = judge(kind, res);
      outcomes.push(outcome);
      if (kind === 'background' && res.status === 200) {
        const id = (res.json as { id: string }).id;
        jobIds.push(id);
        // Every third job is cancelled by its caller right away (some of those cancels are ignored upstream).
        if (jobIds.length % 3 === 0) {
          const cancel = await raw(`${base}/responses/${id}/cancel`, { method: 'POST', headers });
          const c = judge('cancel', cancel);
          outcomes.push(c);
          if (cancel.status === 200) cancelled.add(id);
        }
      }
    });
    await stack.clearFaults();
    const stormSeconds = (Date.now() - started) / 1000;

    // Every job the caller holds an id for ends, once.
    const rows = await waitForFinalized(jobIds, 120_000);
    const unfinished = [...rows]
      .filter(([, j]) => j?.phase !== 'finalized')
      .map(([id, j]) => `${id}: ${j?.phase}`);
    const finalizations = finalizationsById(stack.logs());
    const twice = jobIds.filter((id) => (finalizations.get(id) ?? 0) !== 1);

    // One webhook event per job, delivered at least once, saying what the job row says.
    const deadline = Date.now() + 60_000;
    const eventsFor = (id: string) => stack.deliveries.filter((d) => d.event.data.id === id);
    while (jobIds.some((id) => eventsFor(id).length === 0) && Date.now() < deadline) await sleep(500);
    const webhookProblems: string[] = [];
    for (const id of jobIds) {
      const events = eventsFor(id);
      const ids = new Set(events.map((d) => d.event.id));
      if (events.length === 0) webhookProblems.push(`${id}: no delivery`);
      else if (ids.size !== 1) webhookProblems.push(`${id}: ${ids.size} different event ids`);
      else if (events.some((d) => d.webhookId !== d.event.id))
        webhookProblems.push(`${id}: webhook-id header differs`);
      else if (events[0]!.event.data.status !== rows.get(id)?.status)
        webhookProblems.push(
          `${id}: event says ${events[0]!.event.data.status}, job says ${rows.get(id)?.status}`,
        );
    }
    // The caller's view matches the job.
    const views: string[] = [];
    await pool(jobIds.length, 8, async (i) => {
      const id = jobIds[i]!;
      const res = await raw(`${base}/responses/${id}`, { headers });
      const status = (res.json as { status?: string } | undefined)?.status;
      const expected = rows.get(id)?.status === 'expired' ? 'cancelled' : rows.get(id)?.status;
      if (res.status !== 200 || status !== expected)
        views.push(`${id}: ${res.status} ${status} vs job ${expected}`);
    });

    const ticks = pollerTicks(stack.logs());
    const maxTick = Math.max(0, ...ticks.map((t) => t.durationMs));
    const byStatus = (list: Outcome[]) =>
      list.reduce<Record<string, number>>(
        (acc, o) => ((acc[`${o.kind}:${o.status}`] = (acc[`${o.kind}:${o.status}`] ?? 0) + 1), acc),
        {},
      );
    const jobStatuses = [...rows.values()].reduce<Record<string, number>>(
      (acc, j) => ((acc[j?.status ?? 'missing'] = (acc[j?.status ?? 'missing'] ?? 0) + 1), acc),
      {},
    );
    // The usage ledger says what the upstream billed this caller, to the token: once per response, none lost.
    const usage = await settledUsage(stack, caller, Math.floor(started / 1000) - 3600);
    const usageDifferences = await ledgerDifferences(stack, caller);
    const stats = await stack.emulatorStats();
    report('fault-storm', {
      creates,
      jobsRequested: jobs,
      jobsAccepted: jobIds.length,
      cancelled: cancelled.size,
      answers: byStatus(outcomes),
      streamsCompleted,
      streamsCut,
      streamEnds,
      jobStatuses,
      deliveries: stack.deliveries.length,
      pollerTicks: ticks.length,
      maxTickMs: maxTick,
      upstreamRequests: stats.requests,
      ledger: usage.ledger,
      upstreamBilled: usage.upstream,
      stormSeconds,
      totalSeconds: (Date.now() - started) / 1000,
    });

    expect(outcomes.filter((o) => o.problem).map((o) => `${o.kind} ${o.status}: ${o.problem}`)).toEqual([]);
    expect(outcomes.some((o) => o.status !== 200)).toBe(true); // the storm did reach callers
    // Its new kinds too: filtered prompts, and streams ending on an upstream failure or a filter.
    expect(outcomes.some((o) => o.status === 400)).toBe(true);
    const upstreamFailures = Object.entries(streamEnds)
      .filter(
        ([end]) =>
          end === 'response.failed' || (end.startsWith('error:') && end !== 'error:stream_interrupted'),
      )
      .reduce((sum, [, count]) => sum + count, 0);
    expect(upstreamFailures).toBeGreaterThan(0);
    expect(streamEnds['response.incomplete'] ?? 0).toBeGreaterThan(0);
    expect(jobIds.length).toBeGreaterThan(jobs / 2);
    expect(unfinished).toEqual([]);
    expect(twice).toEqual([]);
    expect(webhookProblems).toEqual([]);
    expect(views).toEqual([]);
    expect(usageDifferences).toEqual([]);
    expect(usage.ledger).toEqual(usage.upstream);
    expect(usage.ledger.requests).toBeGreaterThan(jobIds.length);
    expect(maxTick).toBeLessThanOrEqual(BUDGET_MS + BUDGET_SLACK_MS);
    expect(stack.hostAlive()).toBe(true);
    expect(crashLines(stack.logs())).toEqual([]);
  });
});
