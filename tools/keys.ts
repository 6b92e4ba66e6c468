/**
 * Gateway key management: `npm run keys -- <command>`.
 *
 *   create <caller>    create a key for <caller>; the key is printed once, as the last line
 *   revoke <caller>    remove every key of <caller>
 *   list               list callers that were given keys
 *   webhook <caller> <url> [--allow-request-urls]
 *                      register <caller>'s completion webhook; the signing secret is printed once, as the last line
 *   webhook <caller> --remove
 *                      remove <caller>'s completion webhook
 *   limits <caller> [--rpm N] [--tpm N] [--tokens-per-day N]
 *                      set <caller>'s limits (N, `none` for no limit, `default` for the setting's default);
 *                      the caller's limits in effect are printed as the last line. <caller> is a key caller's
 *                      name (or `key:<name>`), or `entra:<object id>` for an Entra ID caller.
 *
 * Storage comes from the same settings as the app (environment, else local.settings.json), so the tool works
 * against Azurite locally and against the deployed account with `AzureWebJobsStorage__tableServiceUri` and an
 * Entra login that holds Storage Table Data Contributor.
 */
import { applyLocalSettings, readLocalSettings } from './settings';
import { createKey, listCallers, revokeKeys } from '../shared/callers/keys';
import { registerWebhook, removeWebhook } from '../shared/webhooks/registration';
import {
  callerIdFromArg,
  describeLimits,
  LIMIT_KINDS,
  setLimits,
  type LimitKind,
  type Limits,
} from '../shared/limits';

const usage = `Usage: npm run keys -- <command>
  create <caller>   create a key for <caller> (printed once, as the last line)
  revoke <caller>   revoke every key of <caller>
  list              list callers
  webhook <caller> <url> [--allow-request-urls]
                    register the caller's completion webhook (secret printed once, as the last line);
                    --allow-request-urls lets the caller name other URLs per request (X-Webhook-Url)
  webhook <caller> --remove
                    remove the caller's completion webhook
  limits <caller> [--rpm N] [--tpm N] [--tokens-per-day N]
                    set the caller's limits: N, 'none' (no limit) or 'default' (the LIMIT_* setting);
                    prints the limits in effect as the last line. <caller>: a key caller's name, or
                    entra:<object id> for an Entra ID caller`;

const LIMIT_FLAGS: Record<string, LimitKind> = {
  '--rpm': 'requests_per_minute',
  '--tpm': 'tokens_per_minute',
  '--tokens-per-day': 'tokens_per_day',
};

/** `--rpm 3 --tpm none ...` as changes; an error names the bad flag or value. */
export function parseLimitFlags(args: string[]): Partial<Record<LimitKind, number | 'none' | 'default'>> {
  const changes: Partial<Record<LimitKind, number | 'none' | 'default'>> = {};
  for (let i = 0; i < args.length; i += 2) {
    const kind = LIMIT_FLAGS[args[i]!];
    const value = args[i + 1];
    if (!kind) throw new Error(`Unknown option '${args[i]}': use --rpm, --tpm or --tokens-per-day.`);
    if (value === 'none' || value === 'default') changes[kind] = value;
    else if (value !== undefined && /^[1-9][0-9]{0,14}$/.test(value)) changes[kind] = Number(value);
    else throw new Error(`${args[i]} needs a positive integer, 'none' or 'default'; got '${value ?? ''}'.`);
  }
  return changes;
}

/** One line: `<caller id> requests_per_minute=3 tokens_per_minute=none tokens_per_day=100000 (default)`. */
export function formatLimits(callerId: string, effective: Limits, overridden: Set<LimitKind>): string {
  const parts = LIMIT_KINDS.map(
    (kind) => `${kind}=${effective[kind] ?? 'none'}${overridden.has(kind) ? '' : ' (default)'}`,
  );
  return `${callerId} ${parts.join(' ')}`;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'create': {
      const caller = args[0];
      if (!caller) break;
      const key = await createKey(caller);
      console.log(`Created a key for caller '${caller}'. It is shown only now; keep it as a secret.`);
      console.log(key);
      return 0;
    }
    case 'revoke': {
      const caller = args[0];
      if (!caller) break;
      const removed = await revokeKeys(caller);
      console.log(`Revoked ${removed} key(s) of caller '${caller}'.`);
      return 0;
    }
    case 'list': {
      for (const name of await listCallers()) console.log(name);
      return 0;
    }
    case 'webhook': {
      const [caller, ...rest] = args;
      if (!caller) break;
      if (rest.includes('--remove')) {
        const removed = await removeWebhook(caller);
        console.log(removed ? `Removed the webhook of caller '${caller}'.` : `No caller named '${caller}'.`);
        return removed ? 0 : 1;
      }
      const url = rest.find((a) => !a.startsWith('--'));
      if (!url) break;
      const registration = await registerWebhook(caller, url, {
        allowRequestUrls: rest.includes('--allow-request-urls'),
      });
      console.log(
        `Registered ${registration.url} for caller '${caller}'` +
          (registration.allowRequestUrls ? ' (per-request X-Webhook-Url allowed)' : '') +
          '. Its signing secret is shown only now; verify deliveries with any Standard Webhooks library.',
      );
      console.log(registration.secret);
      return 0;
    }
    case 'limits': {
      const [caller, ...rest] = args;
      if (!caller) break;
      const callerId = callerIdFromArg(caller);
      const changes = parseLimitFlags(rest);
      const { overrides, effective } = Object.keys(changes).length
        ? await setLimits(callerId, changes)
        : await describeLimits(callerId);
      const overridden = new Set(LIMIT_KINDS.filter((k) => overrides[k] !== undefined));
      if (Object.keys(changes).length)
        console.log(`Limits of '${callerId}' updated; instances apply them within 30 s.`);
      console.log(formatLimits(callerId, effective, overridden));
      return 0;
    }
  }
  console.error(usage);
  return 2;
}

if (require.main === module) {
  applyLocalSettings(readLocalSettings());
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : String(e));
      process.exit(1);
    },
  );
}
