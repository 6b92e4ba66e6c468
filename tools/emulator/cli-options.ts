import { parseArgs } from 'node:util';
import type { EmulatorOptions } from './options';

export const USAGE = `Usage: node dist/tools/emulator/cli.js [options]

Offline Azure OpenAI v1 Responses API emulator.

Options (environment variable in brackets):
  --port <n>                    TCP port, 0 = any free port  [EMULATOR_PORT, default 4010]
  --host <addr>                 interface                    [EMULATOR_HOST, default 127.0.0.1]
  --api-key <key>               key callers must send        [EMULATOR_API_KEY, default emulator-key]
  --deployments <a,b>           chat/reasoning deployments   [EMULATOR_DEPLOYMENTS, default gpt-4.1,gpt-4.1-mini,o4-mini]
  --image-deployments <a,b>     image deployments            [EMULATOR_IMAGE_DEPLOYMENTS, default gpt-image-1]
  --background-duration-ms <n>  queued → terminal time       [EMULATOR_BACKGROUND_DURATION_MS, default 1500]
  --stream-event-delay-ms <n>   gap between streamed events  [EMULATOR_STREAM_EVENT_DELAY_MS, default 15]
  --latency-ms <n>              delay added to every request [EMULATOR_LATENCY_MS, default 0]
  --webhook-url <url>           POST a signed webhook there when a background response ends
                                                             [EMULATOR_WEBHOOK_URL, default none]
  --webhook-secret <whsec_...>  the endpoint's signing secret [EMULATOR_WEBHOOK_SECRET]
  --webhook-delay-ms <n>        wait before each first attempt [EMULATOR_WEBHOOK_DELAY_MS, default 0]
  --webhook-duplicates <n>      extra copies of every event  [EMULATOR_WEBHOOK_DUPLICATES, default 0]
  -h, --help                    show this help
`;

export class CliError extends Error {
  override readonly name = 'CliError';
}

function int(raw: string | undefined, name: string, max = 2 ** 31 - 1): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max)
    throw new CliError(`${name} must be an integer between 0 and ${max}; got "${raw}".`);
  return value;
}

function list(raw: string | undefined): string[] | undefined {
  if (raw === undefined || raw === '') return undefined;
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length ? items : undefined;
}

/** Emulator options from flags, falling back to `EMULATOR_*` environment variables. `undefined` = show help. */
export function cliOptions(argv: string[], env: NodeJS.ProcessEnv): EmulatorOptions | undefined {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'api-key': { type: 'string' },
        deployments: { type: 'string' },
        'image-deployments': { type: 'string' },
        'background-duration-ms': { type: 'string' },
        'stream-event-delay-ms': { type: 'string' },
        'latency-ms': { type: 'string' },
        'webhook-url': { type: 'string' },
        'webhook-secret': { type: 'string' },
        'webhook-delay-ms': { type: 'string' },
        'webhook-duplicates': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (values.help) return undefined;
  const pick = (flag: string, variable: string): string | undefined => {
    const value = values[flag];
    return typeof value === 'string' ? value : env[variable];
  };
  return {
    port: int(pick('port', 'EMULATOR_PORT'), '--port', 65535) ?? 4010,
    host: pick('host', 'EMULATOR_HOST') || undefined,
    apiKey: pick('api-key', 'EMULATOR_API_KEY') || undefined,
    deployments: list(pick('deployments', 'EMULATOR_DEPLOYMENTS')),
    imageDeployments: list(pick('image-deployments', 'EMULATOR_IMAGE_DEPLOYMENTS')),
    backgroundDurationMs: int(
      pick('background-duration-ms', 'EMULATOR_BACKGROUND_DURATION_MS'),
      '--background-duration-ms',
    ),
    streamEventDelayMs: int(
      pick('stream-event-delay-ms', 'EMULATOR_STREAM_EVENT_DELAY_MS'),
      '--stream-event-delay-ms',
    ),
    latencyMs: int(pick('latency-ms', 'EMULATOR_LATENCY_MS'), '--latency-ms'),
    ...webhookOptions(pick),
  };
}

function webhookOptions(pick: (flag: string, variable: string) => string | undefined): EmulatorOptions {
  const url = pick('webhook-url', 'EMULATOR_WEBHOOK_URL') || undefined;
  const secret = pick('webhook-secret', 'EMULATOR_WEBHOOK_SECRET') || undefined;
  if (url) {
    try {
      new URL(url);
    } catch {
      throw new CliError(`--webhook-url must be an absolute http(s) URL; got "${url}".`);
    }
    if (!secret?.startsWith('whsec_')) {
      throw new CliError('--webhook-url needs --webhook-secret, the endpoint secret (whsec_<base64>).');
    }
  }
  return {
    webhookUrl: url,
    webhookSecret: secret,
    webhookDelayMs: int(pick('webhook-delay-ms', 'EMULATOR_WEBHOOK_DELAY_MS'), '--webhook-delay-ms'),
    webhookDuplicates: int(
      pick('webhook-duplicates', 'EMULATOR_WEBHOOK_DUPLICATES'),
      '--webhook-duplicates',
      100,
    ),
  };
}
