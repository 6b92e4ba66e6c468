/** Options of {@link startEmulator}. Durations are in milliseconds. */
export interface EmulatorOptions {
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** The key callers must send as `api-key` or `Authorization: Bearer`. Default `emulator-key`. */
  apiKey?: string;
  /** Chat/reasoning deployment names `model` may name. Default `['gpt-4.1', 'gpt-4.1-mini', 'o4-mini']`. */
  deployments?: string[];
  /** Image deployments `x-ms-oai-image-generation-deployment` may name. Default `['gpt-image-1']`. */
  imageDeployments?: string[];
  /** Time a background response takes from `queued` to its terminal state. Default 1500. */
  backgroundDurationMs?: number;
  /** Gap between two streamed events of a foreground stream. Default 15. */
  streamEventDelayMs?: number;
  /** Delay added before answering every API request (control routes excluded). Default 0. */
  latencyMs?: number;
  /** Stored responses kept before the oldest finished ones are evicted. Default 2000. */
  maxResponses?: number;
  /** Approximate bytes of stored responses kept before the oldest finished ones are evicted. Default 1 GiB. */
  maxStoredBytes?: number;
  /** Largest JSON request body accepted, in bytes. Default 100 MiB. */
  maxBodyBytes?: number;
  /** Largest uploaded file, in bytes. Default 64 MiB. */
  maxFileBytes?: number;
  /** Total bytes of uploaded files kept at once; uploads beyond it get 413. Default 512 MiB. */
  maxTotalFileBytes?: number;
  /** Requests kept in the request log (`GET /_emulator/requests`), oldest dropped first. Default 5000. */
  maxLoggedRequests?: number;
  /** Where to POST the webhook of every background response that ends (webhooks.ts). Default '' (none). */
  webhookUrl?: string;
  /** The endpoint's Standard Webhooks signing secret, `whsec_<base64>`. Required with `webhookUrl`. */
  webhookSecret?: string;
  /** Attempts per event until one gets a 2xx. Default 6. */
  webhookMaxAttempts?: number;
  /** Delay before the second attempt, doubled for each one after. Default 500. */
  webhookRetryBaseMs?: number;
  /** Wait before the first attempt of every event. Default 0. */
  webhookDelayMs?: number;
  /** Extra copies of every event (same `webhook-id`), sent alongside the first. Default 0. */
  webhookDuplicates?: number;
}

export type ResolvedOptions = Required<EmulatorOptions>;

export const DEFAULT_OPTIONS: ResolvedOptions = {
  port: 0,
  host: '127.0.0.1',
  apiKey: 'emulator-key',
  deployments: ['gpt-4.1', 'gpt-4.1-mini', 'o4-mini'],
  imageDeployments: ['gpt-image-1'],
  backgroundDurationMs: 1500,
  streamEventDelayMs: 15,
  latencyMs: 0,
  maxResponses: 2000,
  maxStoredBytes: 1024 * 1024 * 1024,
  maxBodyBytes: 100 * 1024 * 1024,
  maxFileBytes: 64 * 1024 * 1024,
  maxTotalFileBytes: 512 * 1024 * 1024,
  maxLoggedRequests: 5000,
  webhookUrl: '',
  webhookSecret: '',
  webhookMaxAttempts: 6,
  webhookRetryBaseMs: 500,
  webhookDelayMs: 0,
  webhookDuplicates: 0,
};

export function resolveOptions(options: EmulatorOptions = {}): ResolvedOptions {
  const defined = Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as EmulatorOptions;
  return { ...DEFAULT_OPTIONS, ...defined };
}

/** Reasoning deployments emit `reasoning` items: the o-series and gpt-5 family (but not the `-chat` variants). */
export function isReasoningDeployment(name: string): boolean {
  return /^o\d/i.test(name) || (/^gpt-5/i.test(name) && !/chat/i.test(name));
}
