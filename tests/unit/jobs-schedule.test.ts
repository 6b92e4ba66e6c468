import { describe, expect, it } from 'vitest';
import { dueKey, idFromDueKey } from '../../shared/platform/scheduling/due-index';
import {
  pollDelay,
  retryAfterMs,
  webhookRetryDelay,
  WEBHOOK_RETRY_DELAYS_MS,
} from '../../shared/platform/scheduling/backoff';
import { runBounded } from '../../shared/platform/scheduling/bounded';
import { parseListJobsQuery } from '../../shared/jobs/api';
import { outcomeOf } from '../../shared/jobs/claim';
import type { Response } from 'openai/resources/responses/responses';
import { setTimeout as sleep } from 'node:timers/promises';

const mid = () => 0.5;

describe('poll backoff', () => {
  it('starts at the initial delay and doubles up to the cap', () => {
    const delays = Array.from({ length: 8 }, (_, n) => pollDelay(n, 1000, 30_000, mid));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000]);
  });

  it('jitters by at most 20 % and never exceeds the cap', () => {
    expect(pollDelay(0, 1000, 30_000, () => 0)).toBe(800);
    expect(pollDelay(0, 1000, 30_000, () => 0.999999)).toBe(1200);
    expect(pollDelay(10, 1000, 30_000, () => 0.999999)).toBe(30_000);
    expect(pollDelay(10, 1000, 30_000, () => 0)).toBe(24_000);
    for (let i = 0; i < 200; i++) {
      const d = pollDelay(i % 12, 500, 5000);
      expect(d).toBeGreaterThanOrEqual(400);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });

  it('survives absurd poll counts', () => {
    expect(pollDelay(10_000, 1000, 30_000, mid)).toBe(30_000);
  });
});

describe('webhook retry schedule', () => {
  it('grows 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h and then repeats the last', () => {
    const delays = Array.from({ length: 11 }, (_, i) => webhookRetryDelay(i + 1, mid));
    expect(delays.slice(0, 9)).toEqual([...WEBHOOK_RETRY_DELAYS_MS]);
    expect(delays[9]).toBe(8 * 3_600_000);
  });

  it('makes eleven attempts within the 24-hour window', () => {
    let elapsed = 0;
    let attempts = 1;
    while (elapsed + webhookRetryDelay(attempts, mid) <= 24 * 3_600_000) {
      elapsed += webhookRetryDelay(attempts, mid);
      attempts++;
    }
    expect(attempts).toBe(11);
  });
});

describe('upstream 429 hints', () => {
  const headers = (h: Record<string, string>) => new Headers(h);

  it('prefers retry-after-ms, then retry-after seconds or date', () => {
    expect(retryAfterMs(headers({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1500);
    expect(retryAfterMs(headers({ 'retry-after': '3' }))).toBe(3000);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(retryAfterMs(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:10 GMT' }), now)).toBe(10_000);
  });

  it('has no hint without usable headers and caps long ones at 10 minutes', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs(headers({}))).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(retryAfterMs(headers({ 'retry-after': '86400' }))).toBe(600_000);
  });
});

describe('due index keys', () => {
  it('sort by time then id, and give the id back', () => {
    const keys = [dueKey(20_000, 'resp_b'), dueKey(3_000, 'resp_z'), dueKey(20_000, 'resp_a')].sort();
    expect(keys).toEqual(['0000000003000_resp_z', '0000000020000_resp_a', '0000000020000_resp_b']);
    expect(idFromDueKey(keys[0]!)).toBe('resp_z');
    // The range query "RowKey lt <now + 1 ms>" includes exactly the keys due at or before now.
    expect(dueKey(20_000, 'resp_a') < String(20_001).padStart(13, '0')).toBe(true);
    expect(dueKey(20_001, 'resp_a') < String(20_001).padStart(13, '0')).toBe(false);
  });
});

describe('bounded concurrency', () => {
  async function* items(n: number) {
    for (let i = 0; i < n; i++) yield await Promise.resolve(i);
  }

  it('never runs more than the limit at once and takes each item once', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await runBounded(
      items(20),
      4,
      async (i) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(5);
        seen.push(i);
        running--;
      },
      () => Promise.resolve(true),
    );
    expect(peak).toBe(4);
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  it('starts nothing once the gate closes', async () => {
    let started = 0;
    await runBounded(
      items(100),
      2,
      async () => {
        started++;
        await Promise.resolve();
      },
      () => Promise.resolve(started < 5),
    );
    expect(started).toBeLessThanOrEqual(6);
  });
});

describe('terminal outcomes', () => {
  const response = (r: Partial<Response>) =>
    ({ id: 'resp_1', error: null, incomplete_details: null, ...r }) as Response;

  it('a cancel wins over any upstream ending', () => {
    expect(outcomeOf(response({ status: 'completed' }), true).status).toBe('cancelled');
    expect(outcomeOf(response({ status: 'completed' }), false).status).toBe('completed');
  });

  it('carries the upstream error and the reason of an incomplete response', () => {
    expect(
      outcomeOf(response({ status: 'failed', error: { code: 'server_error', message: 'boom' } }), false)
        .error,
    ).toEqual({
      code: 'server_error',
      message: 'boom',
    });
    expect(
      outcomeOf(
        response({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } }),
        false,
      ).error?.message,
    ).toContain('max_output_tokens');
  });
});

describe('GET /v1/jobs query', () => {
  const parse = (q: string) => parseListJobsQuery(new URLSearchParams(q));

  it('accepts status, kind, limit and after', () => {
    expect(parse('status=completed&kind=document&limit=50&after=resp_abc')).toEqual({
      status: 'completed',
      kind: 'document',
      limit: 50,
      after: 'resp_abc',
    });
    expect(parse('')).toEqual({});
  });

  it('names the bad parameter', () => {
    expect(() => parse('status=done')).toThrow(expect.objectContaining({ status: 400, param: 'status' }));
    expect(() => parse('kind=x')).toThrow(expect.objectContaining({ param: 'kind' }));
    expect(() => parse('limit=101')).toThrow(expect.objectContaining({ param: 'limit' }));
    expect(() => parse('limit=1.5')).toThrow(expect.objectContaining({ param: 'limit' }));
    expect(() => parse('after=a/b')).toThrow(expect.objectContaining({ param: 'after' }));
  });
});
