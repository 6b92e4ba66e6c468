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
 *
 * Storage comes from the same settings as the app (environment, else local.settings.json), so the tool works
 * against Azurite locally and against the deployed account with `AzureWebJobsStorage__tableServiceUri` and an
 * Entra login that holds Storage Table Data Contributor.
 */
import { applyLocalSettings, readLocalSettings } from './settings';
import { createKey, listCallers, revokeKeys } from '../shared/callers/keys';
import { registerWebhook, removeWebhook } from '../shared/webhooks/registration';

const usage = `Usage: npm run keys -- <command>
  create <caller>   create a key for <caller> (printed once, as the last line)
  revoke <caller>   revoke every key of <caller>
  list              list callers
  webhook <caller> <url> [--allow-request-urls]
                    register the caller's completion webhook (secret printed once, as the last line);
                    --allow-request-urls lets the caller name other URLs per request (X-Webhook-Url)
  webhook <caller> --remove
                    remove the caller's completion webhook`;

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
