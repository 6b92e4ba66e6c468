/**
 * Usage for the platform team: `npm run usage -- [--caller NAME] [--since 24h]`.
 *
 * Prints one line per caller × deployment from the usage ledger since the given time (`90m`, `24h`, `7d`, or an
 * ISO date; default 24h, counted in whole hours): requests, input, cached input, output and reasoning tokens,
 * the 429s the gateway's own limits answered the caller, and the `safety_identifier` sent upstream for it (to
 * trace an Azure abuse report back to a caller). `--caller` takes a key's caller name or a full caller id
 * (`entra:<object id>`, `storage:documents`).
 *
 * Storage comes from the same settings as the app (environment, else local.settings.json), as `npm run keys`.
 */
import { applyLocalSettings, readLocalSettings } from './settings';
import { formatReport, usageReport, type LimitRejections } from '../shared/usage/report';
import { listRejections } from '../shared/limits/rejections';

const help = `Usage: npm run usage -- [--caller NAME] [--since 24h]
  --caller NAME   one caller: a key's caller name, or a caller id such as entra:<object id>
  --since WHEN    90m, 24h, 7d, or an ISO date such as 2026-01-31 (default 24h)`;

/** `--since`'s value as epoch ms, or undefined when it is not one. */
export function parseSince(raw: string, now = Date.now()): number | undefined {
  const relative = /^(\d+)([mhd])$/.exec(raw);
  if (relative)
    return (
      now - Number(relative[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd']
    );
  const date = Date.parse(raw);
  return Number.isNaN(date) ? undefined : date;
}

export interface UsageCliOptions {
  /**
   * The 429 counts of the gateway's limits, per caller ({@link limitRejections} when run as the CLI); without
   * it the column shows `-`.
   */
  rejections?: LimitRejections;
}

export async function main(argv: string[], options: UsageCliOptions = {}): Promise<number> {
  let caller: string | undefined;
  let since = '24h';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--caller' && argv[i + 1]) caller = argv[++i];
    else if (arg === '--since' && argv[i + 1]) since = argv[++i]!;
    else {
      console.error(help);
      return 2;
    }
  }
  const sinceMs = parseSince(since);
  if (sinceMs === undefined) {
    console.error(`--since: '${since}' is not a duration (90m, 24h, 7d) or a date.\n${help}`);
    return 2;
  }
  const callerId = caller === undefined ? undefined : caller.includes(':') ? caller : `key:${caller}`;
  const lines = await usageReport(sinceMs, callerId);
  const rejections = options.rejections ? await options.rejections(sinceMs) : undefined;
  console.log(`Usage since ${new Date(Math.floor(sinceMs / 3_600_000) * 3_600_000).toISOString()}`);
  console.log(formatReport(lines, rejections));
  return 0;
}

/** The limits feature's 429 counts (all instances, whole hours from `sinceMs`), summed per caller. */
export const limitRejections: LimitRejections = async (sinceMs) => {
  const totals = new Map<string, number>();
  for (const row of await listRejections({ since: new Date(sinceMs) })) {
    totals.set(row.callerId, (totals.get(row.callerId) ?? 0) + row.total);
  }
  return totals;
};

if (require.main === module) {
  applyLocalSettings(readLocalSettings());
  main(process.argv.slice(2), { rejections: limitRejections }).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
