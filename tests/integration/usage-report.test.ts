/**
 * `npm run usage` against Azurite: callers × deployments from the ledger since a time, one caller with
 * `--caller`, the 429 column filled from the limits' counter when one is given, and bad arguments refused.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { useTestStorage } from '../e2e/stack';
import { safetyIdentifier } from '../../shared/callers/safety';
import { useStorageNamesForTests } from '../../shared/platform/storage-names';
import { writeUsage, type UsageEntry } from '../../shared/usage/ledger';
import { main, parseSince } from '../../tools/usage';
import { uniqueSuffix } from './support/jobs-env';

const now = Date.now();
const entry = (n: number, callerId: string, deployment: string, hoursAgo: number): UsageEntry => ({
  responseId: `resp_report_${n}`,
  callerId,
  deployment,
  createdAt: now - hoursAgo * 3_600_000,
  status: 'completed',
  kind: 'response',
  usage: {
    input_tokens: 100 * n,
    input_tokens_details: { cached_tokens: n },
    output_tokens: 10 * n,
    output_tokens_details: { reasoning_tokens: 2 * n },
  },
});

beforeAll(async () => {
  useTestStorage(inject('storageConnectionString'));
  useStorageNamesForTests({ usage: `usagereport${uniqueSuffix()}` });
  await writeUsage(entry(1, 'key:billing', 'gpt-4.1', 1));
  await writeUsage(entry(2, 'key:billing', 'gpt-4.1', 2));
  await writeUsage(entry(3, 'key:billing', 'o4-mini', 3));
  await writeUsage(entry(4, 'key:search', 'gpt-4.1', 0));
  await writeUsage(entry(5, 'key:search', 'gpt-4.1', 48)); // outside the default 24 hours
});

afterAll(() => useStorageNamesForTests());

async function run(argv: string[], options = {}): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((m: string) => void out.push(...m.split('\n')));
  const error = vi.spyOn(console, 'error').mockImplementation((m: string) => void err.push(m));
  try {
    return { code: await main(argv, options), out, err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

const cells = (line: string | undefined) => (line ?? '').trim().split(/\s{2,}/);

describe('npm run usage', () => {
  it('prints callers × deployments of the last 24 hours, with a total', async () => {
    const { code, out } = await run([]);
    expect(code).toBe(0);
    const rows = out.slice(2).map(cells);
    expect(rows.map((r) => r.slice(0, 8))).toEqual([
      ['key:billing', 'gpt-4.1', '2', '300', '3', '30', '6', '330'],
      ['key:billing', 'o4-mini', '1', '300', '3', '30', '6', '330'],
      ['key:search', 'gpt-4.1', '1', '400', '4', '40', '8', '440'],
      ['total', '4', '1000', '10', '100', '20', '1100', '-'],
    ]);
    // No limits counter given: the 429 column says so; each caller's safety identifier on its first line.
    expect(rows[0]).toEqual([...rows[0]!.slice(0, 8), '-', safetyIdentifier({ id: 'key:billing' })]);
  });

  it('narrows to one caller and a longer window, and fills the 429 column from the limits', async () => {
    const rejections = vi.fn(() => Promise.resolve(new Map([['key:search', 7]])));
    const { code, out } = await run(['--caller', 'search', '--since', '3d'], { rejections });
    expect(code).toBe(0);
    expect(rejections).toHaveBeenCalledWith(expect.any(Number));
    const rows = out.slice(2).map(cells);
    expect(rows[0]!.slice(0, 9)).toEqual(['key:search', 'gpt-4.1', '2', '900', '9', '90', '18', '990', '7']);
    expect(rows).toHaveLength(2);
  });

  it('refuses arguments it does not know, and a --since that is no time', async () => {
    expect((await run(['--everything'])).code).toBe(2);
    const bad = await run(['--since', 'last week']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--since');
    expect(parseSince('90m', 1_000_000_000)).toBe(1_000_000_000 - 90 * 60_000);
  });
});
