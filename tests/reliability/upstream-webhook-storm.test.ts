/**
 * Upstream webhook storm: Azure OpenAI's webhooks (sent by the emulator) race the poller, arrive three times
 * each (same `webhook-id`), out of order and for the wrong outcome, forged, replayed past their window, and for
 * responses the service never made. (ci: 40 jobs; full: 300.)
 *
 * What must hold: every job ends once (one `job.finalized`, one caller webhook event id) with the status the
 * upstream reports, whatever the events claimed; events for a response still running end nothing; forged and
 * stale deliveries get 4xx and change nothing; events for unknown ids get 2xx and change nothing; finalized
 * jobs are never written again; the host logs no crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../../tools/emulator/webhooks';
import {
  SIZES,
  crashLines,
  finalizationsById,
  pool,
  readJobs,
  report,
  ledgerDifferences,
  settledUsage,
  sleep,
  startReliabilityStack,
  upstreamIdOf,
  waitForFinalized,
  type Caller,
  type ReliabilityStack,
} from './support';

let stack: ReliabilityStack;
let caller: Caller;

beforeAll(async () => {
  stack = await startReliabilityStack({
    upstreamWebhooks: true,
    // The poller looks often enough to race the webhooks for the same jobs.
    settings: { POLL_INITIAL_DELAY_MS: '1500', POLL_MAX_DELAY_MS: '3000' },
    emulator: { backgroundDurationMs: 800, webhookDuplicates: 2, webhookDelayMs: 200 },
  });
  caller = await stack.newCaller('upstorm');
});

afterAll(async () => {
  await stack?.stop();
});

interface Sent {
  status: number;
  webhookId: string;
}

async function send(body: Record<string, unknown>): Promise<Sent[]> {
  const res = await fetch(`${stack.emulator.url}/_emulator/webhooks/send`, {
    method: 'POST',
    headers: { 'api-key': 'emulator-key', 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`send: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { deliveries: Sent[] }).deliveries;
}

type Plan = 'completed' | 'failed' | 'incomplete' | 'cancel';
const planOf = (i: number): Plan =>
  (['completed', 'completed', 'failed', 'incomplete', 'cancel'] as const)[i % 5]!;

describe('upstream webhook storm', () => {
  it('duplicates, wrong and early events, forgeries, replays and unknown ids change nothing they should not', async () => {
    const started = Date.now();
    const n = SIZES.upstreamStormJobs;
    const ids: string[] = new Array<string>(n);
    const early: Sent[] = [];
    await pool(n, 8, async (i) => {
      const plan = planOf(i);
      const metadata: Record<string, string> =
        plan === 'cancel'
          ? { emulator_duration_ms: '30000' }
          : plan === 'completed'
            ? {}
            : { emulator_outcome: plan };
      const r = await caller.client.responses.create({
        model: 'gpt-4.1',
        input: `storm ${i}`,
        background: true,
        metadata,
      });
      ids[i] = r.id;
      if (plan === 'cancel') {
        // Out of order: "completed" for a response still running upstream must end nothing.
        early.push(
          ...(await send({ response_id: upstreamIdOf(r.id), type: 'response.completed', copies: 2 })),
        );
        await sleep(300);
        await caller.client.responses.cancel(r.id);
      }
    });
    expect(early.every((s) => s.status === 200)).toBe(true);

    const rows = await waitForFinalized(ids, 120_000);
    const expected = (i: number) => (planOf(i) === 'cancel' ? 'cancelled' : planOf(i));
    const statuses = ids.map((id) => rows.get(id)?.status);
    expect(statuses).toEqual(ids.map((_, i) => expected(i)));
    expect([...rows.values()].every((r) => r?.phase === 'finalized')).toBe(true);

    // The storm after the end: wrong outcomes (x2), forged, replayed an hour late, unknown ids.
    const answers = { wrong: [] as Sent[], forged: [] as Sent[], stale: [] as Sent[], unknown: [] as Sent[] };
    await pool(n, 8, async (i) => {
      const upstream = upstreamIdOf(ids[i]!);
      const wrong = planOf(i) === 'completed' ? 'response.cancelled' : 'response.completed';
      answers.wrong.push(...(await send({ response_id: upstream, type: wrong, copies: 2 })));
      answers.forged.push(
        ...(await send({ response_id: upstream, type: 'response.failed', secret: newWebhookSecret() })),
      );
      answers.stale.push(
        ...(await send({ response_id: upstream, type: 'response.failed', timestamp_offset_s: -3600 })),
      );
      answers.unknown.push(...(await send({ response_id: `resp_unknown${i}`, type: 'response.completed' })));
    });
    expect(answers.wrong.every((s) => s.status === 200)).toBe(true);
    expect(answers.unknown.every((s) => s.status === 200)).toBe(true);
    expect(answers.forged.every((s) => s.status === 400)).toBe(true);
    expect(answers.stale.every((s) => s.status === 400)).toBe(true);

    await sleep(3000); // the caller-webhook timer and any poll a stray event could have caused
    const after = await readJobs(ids);
    for (const id of ids) {
      expect(after.get(id)?.status, id).toBe(rows.get(id)?.status);
      // Finalized jobs are never written again.
      expect(after.get(id)?.version, id).toBe(rows.get(id)?.version);
    }
    const unknownRows = await readJobs(Array.from({ length: n }, (_, i) => `resp_unknown${i}`));
    expect([...unknownRows.values()].every((r) => r === undefined)).toBe(true);

    const logs = stack.logs();
    const finalized = finalizationsById(logs);
    for (const id of ids) expect(finalized.get(id), id).toBe(1);
    for (const [i, id] of ids.entries()) {
      const mine = stack.deliveries.filter((d) => d.event.data.id === id);
      expect(new Set(mine.map((d) => d.webhookId)).size, id).toBe(1);
      expect(mine[0]?.event.type, id).toBe(`response.${expected(i)}`);
    }
    expect(crashLines(logs)).toEqual([]);
    // The usage ledger counts every job once, as the upstream billed it, however many events raced the poller.
    await settledUsage(stack, caller, Math.floor(started / 1000) - 3600);
    expect(await ledgerDifferences(stack, caller)).toEqual([]);

    // What the emulator sent on its own: every copy of every event accepted (2xx), none retried for a 5xx.
    const res = await fetch(`${stack.emulator.url}/_emulator/webhooks`, {
      headers: { 'api-key': 'emulator-key' },
    });
    const log = (await res.json()) as { deliveries: { status: number; attempt: number }[] };
    const automatic = log.deliveries.filter((d) => d.attempt >= 1);
    expect(automatic.filter((d) => d.status >= 500 || d.status === 0)).toEqual([]);
    report('upstream-webhook-storm', {
      jobs: n,
      finalizedByWebhook: [...logs.matchAll(/"event":"job\.upstream_webhook"/g)].length,
      deliveries: log.deliveries.length,
      forged: answers.forged.length,
      stale: answers.stale.length,
      unknown: answers.unknown.length,
    });
  });
});
