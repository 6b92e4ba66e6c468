/**
 * Load: many streaming responses held open at once, each relayed to completion without an error or a dropped
 * event. (full: 500 concurrent streams.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SIZES,
  crashLines,
  report,
  startReliabilityStack,
  type Caller,
  type ReliabilityStack,
} from './support';

const HOLD_MS = SIZES.loadStreams > 100 ? 20_000 : 6_000;

let stack: ReliabilityStack;
let caller: Caller;

beforeAll(async () => {
  stack = await startReliabilityStack();
  caller = await stack.newCaller('load');
});

afterAll(async () => {
  await stack?.stop();
});

describe('concurrent streaming responses', () => {
  it(`${SIZES.loadStreams} streams opened at once all complete with every event, in order`, async () => {
    const n = SIZES.loadStreams;
    const started = Date.now();
    let open = 0;
    let peakOpen = 0;
    const outcomes = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const seqs: number[] = [];
        let terminal: string | undefined;
        let error: string | undefined;
        try {
          const stream = await caller.client.responses.create({
            model: 'gpt-4.1',
            input: `Stream number ${i}: write three sentences about rivers and the sea.`,
            stream: true,
            // Each stream lasts this long upstream, so all of them are open at the same time.
            metadata: { emulator_duration_ms: String(HOLD_MS) },
          });
          open++;
          peakOpen = Math.max(peakOpen, open);
          for await (const event of stream) {
            seqs.push(event.sequence_number);
            if (event.type === 'response.completed' || event.type === 'response.failed')
              terminal = event.type;
          }
        } catch (e) {
          error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        } finally {
          open = Math.max(0, open - 1);
        }
        return { seqs, terminal, error };
      }),
    );
    const failed = outcomes.filter((o) => o.error || o.terminal !== 'response.completed');
    const gaps = outcomes.filter((o) => o.seqs.some((s, i) => s !== i));
    const events = outcomes.reduce((sum, o) => sum + o.seqs.length, 0);
    report('load', {
      streams: n,
      peakOpen,
      events,
      failed: failed.length,
      withGaps: gaps.length,
      seconds: (Date.now() - started) / 1000,
    });
    expect(failed.map((o) => o.error ?? o.terminal)).toEqual([]);
    expect(gaps.length).toBe(0);
    // Every stream was open at once (they are held far longer than it takes to open them all).
    expect(peakOpen).toBe(n);
    expect(stack.hostAlive()).toBe(true);
    expect(crashLines(stack.logs())).toEqual([]);
  });
});
