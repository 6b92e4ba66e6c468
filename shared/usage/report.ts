/**
 * The platform team's view of the ledger (`npm run usage`): callers × deployments since a time, with tokens,
 * requests and the 429s the gateway's own limits answered each caller.
 */
import { safetyIdentifier } from '../callers/safety';
import { odata } from '../platform/sdk';
import { storageNames } from '../platform/storage-names';
import { table } from '../platform/storage';
import type { UsageRow } from './types';

export interface ReportLine {
  callerId: string;
  deployment: string;
  requests: number;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
}

/**
 * Counts of 429s the gateway's limits answered, per caller id, since `sinceMs`. The limits feature provides
 * it; without one the column says `-`.
 */
export type LimitRejections = (sinceMs: number) => Promise<Map<string, number>>;

/** Ledger lines since `sinceMs` (epoch ms; whole hours), of one caller id or of all. */
export async function usageReport(sinceMs: number, callerId?: string): Promise<ReportLine[]> {
  const fromHour = Math.floor(sinceMs / 3_600_000) * 3600;
  const t = await table(storageNames().usage);
  // One caller: a range of its partitions. All: every partition, filtered by hour (a platform report, not a
  // request path).
  const filter = callerId
    ? odata`PartitionKey ge ${`${encodeURIComponent(callerId)}|`} and PartitionKey lt ${`${encodeURIComponent(callerId)}|~`} and hour ge ${fromHour}`
    : odata`hour ge ${fromHour}`;
  const lines = new Map<string, ReportLine>();
  for await (const row of t.listEntities<UsageRow>({ queryOptions: { filter } })) {
    const key = `${row.callerId}\n${row.deployment}`;
    let line = lines.get(key);
    if (!line) {
      line = {
        callerId: row.callerId,
        deployment: row.deployment,
        requests: 0,
        inputTokens: 0,
        cachedInputTokens: 0,
        outputTokens: 0,
        reasoningTokens: 0,
      };
      lines.set(key, line);
    }
    line.requests += row.requests;
    line.inputTokens += row.inputTokens;
    line.cachedInputTokens += row.cachedInputTokens;
    line.outputTokens += row.outputTokens;
    line.reasoningTokens += row.reasoningTokens;
  }
  return [...lines.values()].sort(
    (a, b) => a.callerId.localeCompare(b.callerId) || a.deployment.localeCompare(b.deployment),
  );
}

/** The report as a fixed-width text table, one line per caller × deployment, with a total line. */
export function formatReport(lines: ReportLine[], rejections?: Map<string, number>): string {
  const header = [
    'caller',
    'deployment',
    'requests',
    'input',
    'cached',
    'output',
    'reasoning',
    'total',
    '429s (limits)',
    'safety_identifier',
  ];
  const shown = new Set<string>();
  const rows = lines.map((l) => {
    // The 429 count is per caller: on the caller's first line only.
    const first = !shown.has(l.callerId);
    shown.add(l.callerId);
    const limited = rejections ? String(first ? (rejections.get(l.callerId) ?? 0) : '') : '-';
    return [
      l.callerId,
      l.deployment,
      String(l.requests),
      String(l.inputTokens),
      String(l.cachedInputTokens),
      String(l.outputTokens),
      String(l.reasoningTokens),
      String(l.inputTokens + l.outputTokens),
      limited,
      first ? safetyIdentifier({ id: l.callerId }) : '',
    ];
  });
  const sum = (pick: (l: ReportLine) => number) => String(lines.reduce((n, l) => n + pick(l), 0));
  const totalRejections = rejections ? String([...rejections.values()].reduce((n, v) => n + v, 0)) : '-';
  rows.push([
    'total',
    '',
    sum((l) => l.requests),
    sum((l) => l.inputTokens),
    sum((l) => l.cachedInputTokens),
    sum((l) => l.outputTokens),
    sum((l) => l.reasoningTokens),
    sum((l) => l.inputTokens + l.outputTokens),
    totalRejections,
    '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = (i: number) => i >= 2 && i <= 8;
  const format = (cells: string[]) =>
    cells
      .map((c, i) => (numeric(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)].join('\n');
}
