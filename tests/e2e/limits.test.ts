/**
 * Per-caller limits as a caller sees them through the running app: OpenAI's `x-ratelimit-*` headers, the
 * gateway's 429 (nothing sent upstream), the windows resetting, `npm run keys -- limits`, a change reaching the
 * app within the key cache's lifetime, and the gateway's 429 told apart from Azure OpenAI's.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main as keysTool } from '../../tools/keys';
import { resetConfigForTests } from '../../shared/platform/config';
import { limitsFor, clearLimitsCacheForTests } from '../../shared/limits';
import { readEmulatorRequests } from '../support/emulator-requests';
import { startStack, type Stack } from './stack';

const DEFAULT_RPM = 1000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ settings: { LIMIT_REQUESTS_PER_MINUTE: String(DEFAULT_RPM) } });
  // The CLI in this process reads the same default as the app.
  process.env.LIMIT_REQUESTS_PER_MINUTE = String(DEFAULT_RPM);
  resetConfigForTests();
});

afterAll(async () => {
  delete process.env.LIMIT_REQUESTS_PER_MINUTE;
  resetConfigForTests();
  await stack?.stop();
});

afterEach(async () => {
  await stack?.clearFaults();
});

interface Answer {
  status: number;
  headers: Headers;
  json: {
    id?: string;
    usage?: { total_tokens: number };
    error?: { message: string; type: string; param: string | null; code: string | null };
  };
}

async function create(key: string, body: Record<string, unknown>): Promise<Answer> {
  const res = await fetch(`${stack.baseURL}/responses`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4.1', ...body }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Answer['json'] };
}

/** Runs the keys CLI in this process (against the stack's Azurite); returns its printed lines. */
async function keys(...args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => void lines.push(String(line)));
  try {
    return { code: await keysTool(args), lines };
  } finally {
    spy.mockRestore();
  }
}

/** Waits, if needed, so that at least `ms` are left in the current minute: a sequence never straddles two windows. */
async function roomInMinute(ms: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < ms) await sleep(left + 50);
}

const ratelimit = (h: Headers, suffix: 'requests' | 'tokens') => ({
  limit: h.get(`x-ratelimit-limit-${suffix}`),
  remaining: h.get(`x-ratelimit-remaining-${suffix}`),
  reset: h.get(`x-ratelimit-reset-${suffix}`),
});

async function upstreamCreates(namespace: string): Promise<number> {
  return (await readEmulatorRequests(stack.emulatorUrl, { namespace, method: 'POST', route: '/responses' }))
    .length;
}

describe('per-caller limits', () => {
  it('applies the default to every caller: x-ratelimit-* request headers on a create', async () => {
    const caller = await stack.newCaller('limits-default');
    const r = await create(caller.key, { input: 'hi' });
    expect(r.status).toBe(200);
    const h = ratelimit(r.headers, 'requests');
    expect(h.limit).toBe(String(DEFAULT_RPM));
    expect(Number(h.remaining)).toBeLessThanOrEqual(DEFAULT_RPM - 1);
    expect(h.reset).toMatch(/^(\d+s|\d+ms)$/);
    // No token limit applies: no token headers.
    expect(r.headers.get('x-ratelimit-limit-tokens')).toBeNull();
  });

  it('requests per minute: set before the first request; 3 allowed leave 2, 1, 0; the 4th is a 429 sent nowhere', async () => {
    const caller = await stack.newCaller('limits-rpm');
    const set = await keys('limits', caller.name, '--rpm', '3');
    expect(set.code).toBe(0);
    expect(set.lines.at(-1)).toBe(
      `key:${caller.name} requests_per_minute=3 tokens_per_minute=none (default) tokens_per_day=none (default)`,
    );
    await roomInMinute(15_000);
    const ns = `rpm-${randomUUID()}`;
    const body = { input: 'hi', metadata: { emulator_namespace: ns } };
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await create(caller.key, body);
      expect(r.status).toBe(200);
      expect(r.headers.get('x-ratelimit-limit-requests')).toBe('3');
      remaining.push(r.headers.get('x-ratelimit-remaining-requests'));
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const refused = await create(caller.key, body);
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(Object.keys(refused.json.error!).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(refused.json.error).toMatchObject({
      type: 'gateway_rate_limit_error',
      code: 'rate_limit_exceeded',
      param: null,
    });
    expect(refused.json.error!.message).toMatch(/requests per minute/);
    expect(refused.json.error!.message).toMatch(/limit 3, 3 used this minute/);
    expect(refused.json.error!.message).toMatch(new RegExp(`Retry after ${retryAfter} s`));
    expect(ratelimit(refused.headers, 'requests')).toMatchObject({ limit: '3', remaining: '0' });
    // Three creates reached the model; the refused one did not.
    expect(await upstreamCreates(ns)).toBe(3);
  });

  it('tokens per minute: estimated before the call, corrected with the usage after it; 429 names the tokens', async () => {
    const caller = await stack.newCaller('limits-tpm');
    await keys('limits', caller.name, '--tpm', '400');
    await roomInMinute(15_000);
    // 400 characters ≈ 100 tokens, plus max_output_tokens 50: 150 charged up front.
    const input = 'x'.repeat(400);
    const first = await create(caller.key, { input, max_output_tokens: 50 });
    expect(first.status).toBe(200);
    expect(ratelimit(first.headers, 'tokens')).toMatchObject({ limit: '400', remaining: '250' });
    const actual = first.json.usage!.total_tokens;
    expect(actual).toBeGreaterThan(0);
    expect(actual).not.toBe(150);
    // The first is now counted at its actual usage, the second at its estimate.
    const second = await create(caller.key, { input, max_output_tokens: 50 });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-ratelimit-remaining-tokens')).toBe(String(Math.max(0, 400 - actual - 150)));
    const ns = `tpm-${randomUUID()}`;
    const refused = await create(caller.key, {
      input,
      max_output_tokens: 250,
      metadata: { emulator_namespace: ns },
    });
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({
      type: 'gateway_rate_limit_error',
      code: 'rate_limit_exceeded',
    });
    expect(refused.json.error!.message).toMatch(/tokens per minute/);
    expect(refused.json.error!.message).toMatch(/this request ~350 estimated/);
    expect(await upstreamCreates(ns)).toBe(0);
  });

  it('tokens per day: the -tokens headers show the daily budget; over it, a 429 until the UTC day ends', async () => {
    const caller = await stack.newCaller('limits-tpd');
    const set = await keys('limits', caller.name, '--tokens-per-day', '300', '--rpm', 'none');
    expect(set.lines.at(-1)).toBe(
      `key:${caller.name} requests_per_minute=none tokens_per_minute=none (default) tokens_per_day=300`,
    );
    const first = await create(caller.key, { input: 'x'.repeat(400), max_output_tokens: 100 });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-ratelimit-limit-requests')).toBeNull();
    expect(ratelimit(first.headers, 'tokens')).toMatchObject({ limit: '300', remaining: '100' });
    expect(first.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+h)?(\d+m)?\d+s$/);
    const refused = await create(caller.key, { input: 'x'.repeat(400), max_output_tokens: 150 });
    expect(refused.status).toBe(429);
    expect(refused.json.error!.message).toMatch(/tokens per day/);
    expect(refused.json.error!.message).toMatch(/today \(UTC\)/);
    const msToMidnight = 86_400_000 - (Date.now() % 86_400_000);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(
      Math.floor(msToMidnight / 1000) - 5,
    );
  });

  it('a background response is charged its estimate, then its actual usage once its job is finalized', async () => {
    const caller = await stack.newCaller('limits-bg');
    await keys('limits', caller.name, '--tpm', '100000');
    await roomInMinute(25_000);
    const started = await create(caller.key, {
      input: 'x'.repeat(400),
      max_output_tokens: 1000,
      background: true,
      metadata: { emulator_duration_ms: '100' },
    });
    expect(started.status).toBe(200);
    expect(started.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100_000 - 1100));
    let usage: { total_tokens: number } | undefined;
    for (let i = 0; i < 100 && !usage; i++) {
      await sleep(200);
      const res = await fetch(`${stack.baseURL}/responses/${started.json.id}`, {
        headers: { authorization: `Bearer ${caller.key}` },
      });
      const body = (await res.json()) as { status: string; usage?: { total_tokens: number } };
      if (body.status === 'completed') usage = body.usage;
    }
    expect(usage?.total_tokens).toBeGreaterThan(0);
    // Once the job is finalized (on this host's poller), the charge is its actual usage: the next create (1 token
    // estimated for 'hi') sees exactly that.
    const finalized = `"event":"job.finalized"`;
    for (let i = 0; i < 100; i++) {
      if (
        stack
          .hostLogs()
          .split('\n')
          .some((l) => l.includes(finalized) && l.includes(`key:${caller.name}`))
      )
        break;
      await sleep(200);
    }
    const next = await create(caller.key, { input: 'hi' });
    expect(next.headers.get('x-ratelimit-remaining-tokens')).toBe(String(100_000 - usage!.total_tokens - 1));
  });

  it('carries the headers on a streamed answer too', async () => {
    const caller = await stack.newCaller('limits-stream');
    await keys('limits', caller.name, '--rpm', '5', '--tpm', '10000');
    await roomInMinute(5_000);
    const res = await fetch(`${stack.baseURL}/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4.1', input: 'stream this', stream: true }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    expect(ratelimit(res.headers, 'requests')).toMatchObject({ limit: '5', remaining: '4' });
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('10000');
    expect(await res.text()).toMatch(/response\.completed/);
  });

  it("tells the gateway's 429 from Azure OpenAI's: different type and message", async () => {
    const caller = await stack.newCaller('limits-upstream');
    await keys('limits', caller.name, '--rpm', '1');
    await roomInMinute(10_000);
    // Azure answers 429 on every attempt (the first try and AZURE_OPENAI_MAX_RETRIES=2 retries).
    await stack.fault({ kind: '429', count: 3, retryAfterMs: 100 });
    const upstream = await create(caller.key, { input: 'hi' });
    expect(upstream.status).toBe(429);
    expect(upstream.json.error).toMatchObject({
      type: 'upstream_rate_limit_error',
      code: 'rate_limit_exceeded',
    });
    expect(upstream.json.error!.message).toMatch(/^Azure OpenAI rate-limited/);
    const gateway = await create(caller.key, { input: 'hi' });
    expect(gateway.status).toBe(429);
    expect(gateway.json.error).toMatchObject({
      type: 'gateway_rate_limit_error',
      code: 'rate_limit_exceeded',
    });
    expect(gateway.json.error!.message).toMatch(/^The gateway's requests per minute limit/);
  });

  it('`npm run keys -- limits` sets, lifts, restores defaults, prints; Entra callers too; bad values fail', async () => {
    const name = `limits-cli-${randomUUID().slice(0, 8)}`;
    const shown = await keys('limits', name);
    expect(shown.lines.at(-1)).toBe(
      `key:${name} requests_per_minute=${DEFAULT_RPM} (default) tokens_per_minute=none (default) tokens_per_day=none (default)`,
    );
    const set = await keys(
      'limits',
      `key:${name}`,
      '--rpm',
      '7',
      '--tpm',
      '9000',
      '--tokens-per-day',
      '50000',
    );
    expect(set.lines.at(-1)).toBe(
      `key:${name} requests_per_minute=7 tokens_per_minute=9000 tokens_per_day=50000`,
    );
    const cleared = await keys('limits', name, '--rpm', 'none', '--tpm', 'default');
    expect(cleared.lines.at(-1)).toBe(
      `key:${name} requests_per_minute=none tokens_per_minute=none (default) tokens_per_day=50000`,
    );
    const restored = await keys('limits', name, '--rpm', 'default', '--tokens-per-day', 'default');
    expect(restored.lines.at(-1)).toBe(
      `key:${name} requests_per_minute=${DEFAULT_RPM} (default) tokens_per_minute=none (default) tokens_per_day=none (default)`,
    );
    const oid = randomUUID();
    const entra = await keys('limits', `entra:${oid}`, '--tpm', '1234');
    expect(entra.lines.at(-1)).toBe(
      `entra:${oid} requests_per_minute=${DEFAULT_RPM} (default) tokens_per_minute=1234 tokens_per_day=none (default)`,
    );
    // What the app reads for that Entra caller (the same code path as a request's).
    clearLimitsCacheForTests();
    expect(await limitsFor(`entra:${oid}`)).toEqual({
      requests_per_minute: DEFAULT_RPM,
      tokens_per_minute: 1234,
      tokens_per_day: null,
    });
    await expect(keys('limits', name, '--rpm', '0')).rejects.toThrow(/positive integer/);
    await expect(keys('limits', name, '--rpm', 'lots')).rejects.toThrow(/positive integer/);
    await expect(keys('limits', name, '--burst', '3')).rejects.toThrow(/Unknown option/);
    await expect(keys('limits', 'entra:not/an/id')).rejects.toThrow(/entra:<object id>/);
  });
});

describe('windows and changes over time', () => {
  it.concurrent('a refused caller is served again once the minute is over', { timeout: 90_000 }, async () => {
    const caller = await stack.newCaller('limits-reset');
    await keys('limits', caller.name, '--rpm', '1');
    await roomInMinute(5_000);
    expect((await create(caller.key, { input: 'hi' })).status).toBe(200);
    const refused = await create(caller.key, { input: 'hi' });
    expect(refused.status).toBe(429);
    await sleep(Number(refused.headers.get('retry-after')) * 1000 + 200);
    const again = await create(caller.key, { input: 'hi' });
    expect(again.status).toBe(200);
    expect(ratelimit(again.headers, 'requests')).toMatchObject({ limit: '1', remaining: '0' });
  });

  it.concurrent(
    'a limit changed after the first request applies within the key cache lifetime (30 s)',
    { timeout: 90_000 },
    async () => {
      const caller = await stack.newCaller('limits-change');
      const before = await create(caller.key, { input: 'hi' });
      expect(before.headers.get('x-ratelimit-limit-requests')).toBe(String(DEFAULT_RPM));
      const changedAt = Date.now();
      await keys('limits', caller.name, '--rpm', '2');
      let appliedAfter: number | undefined;
      while (Date.now() - changedAt < 40_000) {
        const r = await create(caller.key, { input: 'hi' });
        if (r.headers.get('x-ratelimit-limit-requests') === '2') {
          appliedAfter = Date.now() - changedAt;
          break;
        }
        await sleep(1_000);
      }
      expect(appliedAfter).toBeDefined();
      expect(appliedAfter!).toBeLessThanOrEqual(32_000);
    },
  );
});
