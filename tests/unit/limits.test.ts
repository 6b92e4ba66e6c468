/** The pure parts of the limits: OpenAI's reset format, the token estimate, and the shares between instances. */
import { describe, expect, it } from 'vitest';
import { formatReset, estimateTokens } from '../../shared/limits';
import { absorbEntries, type Entry, GONE, withEntry } from '../../shared/limits/claims';
import { CallerMeters, charge, refusal } from '../../shared/limits/meters';
import type { Limits } from '../../shared/limits';

describe('x-ratelimit-reset-* format', () => {
  it('writes durations as OpenAI does', () => {
    expect(formatReset(20)).toBe('20ms');
    expect(formatReset(1000)).toBe('1s');
    expect(formatReset(1001)).toBe('2s');
    expect(formatReset(59_000)).toBe('59s');
    expect(formatReset(360_000)).toBe('6m0s');
    expect(formatReset(3_600_000 * 5 + 61_000)).toBe('5h1m1s');
  });
});

describe('token estimate', () => {
  it('counts text at 4 characters a token, plus max_output_tokens', () => {
    expect(estimateTokens({ input: 'x'.repeat(400) })).toBe(100);
    expect(estimateTokens({ input: 'x'.repeat(401), max_output_tokens: 50 })).toBe(151);
    expect(
      estimateTokens({
        instructions: 'y'.repeat(40),
        input: [{ role: 'user', content: [{ type: 'input_text', text: 'z'.repeat(80) }] }],
      }),
    ).toBe(Math.ceil((40 + 'user'.length + 'input_text'.length + 80) / 4));
  });

  it('counts an inline image or file as a fixed amount, not by its bytes', () => {
    const image = { type: 'input_image', image_url: `data:image/png;base64,${'A'.repeat(1_000_000)}` };
    const file = { type: 'input_file', file_data: 'B'.repeat(1_000_000) };
    const tokens = estimateTokens({ input: [{ role: 'user', content: [image, file] }] });
    expect(tokens).toBeGreaterThanOrEqual(2000);
    expect(tokens).toBeLessThan(2100);
  });
});

describe('shares between instances', () => {
  const limits: Limits = { requests_per_minute: 100, tokens_per_minute: null, tokens_per_day: null };
  const now = 60_000 * 1000 + 1_000;
  const one = { requests: 1, tokens: 0 };

  it('one instance alone has the whole limit', () => {
    const m = new CallerMeters('key:a');
    m.minute.at(now);
    m.day.at(now);
    let admitted = 0;
    while (!refusal(m, limits, one, now, 1, 1000)) {
      charge(m, one);
      admitted++;
    }
    expect(admitted).toBe(100);
    expect(refusal(m, limits, one, now, 1, 1000)).toMatchObject({ refusal: 'window', used: 100 });
  });

  it('before its row is published, an instance among two keeps to its start allowance (5 %), then its share', () => {
    const m = new CallerMeters('key:b');
    m.minute.at(now);
    m.day.at(now);
    let admitted = 0;
    while (!refusal(m, limits, one, now, 2, 1000)) {
      charge(m, one);
      admitted++;
    }
    expect(admitted).toBe(5);
    expect(refusal(m, limits, one, now, 2, 1000)).toMatchObject({ refusal: 'share', retryInMs: 1000 });
    // Published, and the other instance claims 30: this one may go to 5 + floor((100 - 5 - 30) / 2).
    m.minute.published = true;
    m.minute.rowlessOthers = 0;
    m.minute.remote.requests = 10;
    m.minute.remoteClaim.requests = 30;
    m.minute.bound.requests = m.minute.share('requests', 100, 2);
    expect(m.minute.bound.requests).toBe(37);
  });

  it('claims whole requests, the last one by whichever instance commits first', () => {
    const meter = new CallerMeters('key:f').minute.at(now);
    meter.rowlessOthers = 0;
    meter.local.requests = 10;
    meter.remoteClaim.requests = 88.5;
    // 1.5 left between two instances: a share of 0.75 each could never be used; a commit takes the whole one.
    expect(meter.share('requests', 100, 2, true)).toBe(11);
    expect(meter.share('requests', 100, 2, false)).toBe(10);
  });

  it('refuses a request larger than the limit itself as too large', () => {
    const m = new CallerMeters('key:c');
    m.minute.at(now);
    m.day.at(now);
    const tokenLimits: Limits = { requests_per_minute: null, tokens_per_minute: 1000, tokens_per_day: null };
    expect(refusal(m, tokenLimits, { requests: 1, tokens: 1500 }, now, 1, 1000)).toMatchObject({
      kind: 'tokens_per_minute',
      refusal: 'too_large',
    });
  });

  it('holds at its count once its lease has lapsed, and fails open only while storage fails', () => {
    const m = new CallerMeters('key:d');
    const meter = m.minute.at(now);
    meter.published = true;
    meter.leaseUntil = now + 1000;
    meter.bound.requests = 40;
    meter.local.requests = 10;
    expect(meter.effectiveBound('requests', 100, 2, now, false)).toBe(40);
    // Lapsed (its reconcile is late): the others may soon count the claim as given back.
    expect(meter.effectiveBound('requests', 100, 2, now + 1000, false)).toBe(10);
    expect(refusal(m, limits, one, now + 1000, 2, 1000)).toMatchObject({ refusal: 'share' });
    // Storage failing: the claim while its lease runs, then the window's limit alone (fail-open).
    expect(meter.effectiveBound('requests', 100, 2, now, true)).toBe(40);
    expect(meter.effectiveBound('requests', 100, 2, now + 1000, true)).toBe(Infinity);
  });
});

describe('the shared row of a caller', () => {
  const now = 60_000 * 2000;
  const entry = (at: number, n: number, c: number): Entry => ({ at, n: [n, 0], c: [c, 0] });

  it("counts another instance's claim until it is given back, then only its count", () => {
    const meter = new CallerMeters('key:e').minute.at(now);
    const entries = { x: entry(now - 1000, 10, 40), y: entry(now - 50_000, 5, 30), self: entry(now, 99, 99) };
    absorbEntries(meter, entries, 'self', ['x', 'y', 'z'], now, 40_000);
    expect(meter.remote.requests).toBe(15);
    expect(meter.remoteClaim.requests).toBe(45);
    // z is alive and has no entry: the start allowance is left for it.
    expect(meter.rowlessOthers).toBe(1);
  });

  it('folds the entries of instances gone for good into one, keeping their counts', () => {
    const entries = {
      x: entry(now - 1000, 10, 40),
      y: entry(now - 50_000, 5, 30),
      z: entry(now - 90_000, 7, 7),
    };
    const row = JSON.parse(withEntry(entries, 'self', entry(now, 1, 2), now, 40_000)) as Record<
      string,
      Entry
    >;
    expect(Object.keys(row).sort()).toEqual([GONE, 'self', 'x']);
    expect(row[GONE]).toMatchObject({ n: [12, 0], c: [12, 0] });
    expect(row.self).toEqual(entry(now, 1, 2));
  });
});
