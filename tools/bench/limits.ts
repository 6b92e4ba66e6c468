/**
 * Part of scenario 1: what the per-caller quota check (shared/limits) adds to a create, in this process.
 *
 *   - `check`: `admitCreate` + `settleTokens` for a caller with all three limits (set high enough never to
 *     refuse), against `admitCreate` for a caller with no limit, per call, in interleaved blocks;
 *   - `create`: the service's whole create path (`createResponse`, against the emulator and Azurite) for the
 *     limited caller and the unlimited one, interleaved; the difference of the medians is the check's cost
 *     inside a real create, though within that measurement's noise.
 *
 * The reconcile loop runs meanwhile (every LIMIT_SYNC_INTERVAL_MS), as it does in the app.
 */
import type { InvocationContext } from '@azure/functions';
import { admitCreate, setLimits, settleTokens } from '../../shared/limits';
import { createResponse } from '../../shared/responses/create';
import { round, summarize, type Summary } from './stats';

export interface QuotaCheckResult {
  /** One admit + settle with three limits, ms. */
  limited: Summary;
  /** One admit with no limit (the cached lookup alone), ms. */
  unlimited: Summary;
  /** Median added by the check itself, ms. */
  addedCheck: number;
  createLimited: Summary;
  createUnlimited: Summary;
  /** Median of a whole in-process create with the limits minus without, ms. */
  addedCreate: number;
}

const BODY = { model: 'gpt-4.1', input: 'Say hello.', max_output_tokens: 64 } as const;
const quiet = {
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
} as unknown as InvocationContext;

export async function measureQuotaCheck(checks: number, creates: number): Promise<QuotaCheckResult> {
  const limitedId = `key:bench-limited-${Date.now().toString(36)}`;
  const unlimitedId = `key:bench-unlimited-${Date.now().toString(36)}`;
  await setLimits(limitedId, {
    requests_per_minute: 1_000_000_000,
    tokens_per_minute: 1_000_000_000_000,
    tokens_per_day: 1_000_000_000_000,
  });
  const usage = { input_tokens: 12, output_tokens: 20, total_tokens: 32 };
  const samples = { limited: [] as number[], unlimited: [] as number[] };
  const block = 1000;
  // Warm: the limits cache, the first reconcile, JIT.
  for (let i = 0; i < 2000; i++) {
    settleTokens((await admitCreate(limitedId, { ...BODY }, quiet)).reservation, usage);
    await admitCreate(unlimitedId, { ...BODY }, quiet);
  }
  for (let done = 0; done < checks; done += block) {
    for (const which of done % (2 * block) === 0 ? ['limited', 'unlimited'] : ['unlimited', 'limited']) {
      for (let i = 0; i < block; i++) {
        const body = { ...BODY };
        const t0 = performance.now();
        if (which === 'limited') settleTokens((await admitCreate(limitedId, body, quiet)).reservation, usage);
        else await admitCreate(unlimitedId, body, quiet);
        samples[which as 'limited' | 'unlimited'].push(performance.now() - t0);
      }
    }
  }
  const creat = { limited: [] as number[], unlimited: [] as number[] };
  const callers = {
    limited: { id: limitedId, source: 'key' as const, name: limitedId.slice(4) },
    unlimited: { id: unlimitedId, source: 'key' as const, name: unlimitedId.slice(4) },
  };
  for (let i = 0; i < creates + 50; i++) {
    for (const which of i % 2 === 0
      ? (['limited', 'unlimited'] as const)
      : (['unlimited', 'limited'] as const)) {
      const t0 = performance.now();
      const signal = new AbortController().signal;
      await createResponse({ caller: callers[which], context: quiet, signal }, { ...BODY });
      if (i >= 50) creat[which].push(performance.now() - t0);
    }
  }
  const limited = summarize(samples.limited);
  const unlimited = summarize(samples.unlimited);
  const createLimited = summarize(creat.limited);
  const createUnlimited = summarize(creat.unlimited);
  return {
    limited,
    unlimited,
    addedCheck: round(limited.p50 - unlimited.p50, 4),
    createLimited,
    createUnlimited,
    addedCreate: round(createLimited.p50 - createUnlimited.p50, 3),
  };
}
