/**
 * The service's configuration: every app setting it reads, declared once, validated once.
 *
 * The same names appear in `local.settings.sample.json`, the README's settings table and the Bicep app
 * settings (`infra/app/api.bicep`); `tests/infra` checks that Bicep sets every name listed in `SETTINGS`.
 */
import {
  ConfigError,
  bool,
  int,
  list,
  oneOf,
  sealingKeys,
  sharedIds,
  str,
  upstreamSecret,
  url,
  type Parser,
  type SettingSpec,
} from './config-parsers';

export { ConfigError } from './config-parsers';
/** Every setting the code reads. Keep the order: it is the order of the README table. */
export const SETTINGS = {
  mode: {
    name: 'GATEWAY_MODE',
    description:
      '`azure` (default) or `local`. Local mode allows plain-http webhooks to loopback; `npm start` sets it.',
    default: 'azure',
    parse: oneOf('azure', 'local'),
  },
  storageConnection: {
    name: 'AzureWebJobsStorage',
    description:
      'Storage connection string (`UseDevelopmentStorage=true` locally). In Azure leave it unset and use the identity-based `AzureWebJobsStorage__*` settings.',
    parse: str,
  },
  storageBlobServiceUri: {
    name: 'AzureWebJobsStorage__blobServiceUri',
    description: 'Identity-based storage: the blob endpoint (used when `AzureWebJobsStorage` is unset).',
    parse: url,
  },
  storageTableServiceUri: {
    name: 'AzureWebJobsStorage__tableServiceUri',
    description: 'Identity-based storage: the table endpoint (used when `AzureWebJobsStorage` is unset).',
    parse: url,
  },
  storageQueueServiceUri: {
    name: 'AzureWebJobsStorage__queueServiceUri',
    description:
      'Identity-based storage: the queue endpoint (used when `AzureWebJobsStorage` is unset; the poll queue and its trigger use it).',
    parse: url,
  },
  openaiEndpoint: {
    name: 'AZURE_OPENAI_ENDPOINT',
    description:
      'Azure OpenAI resource endpoint, e.g. `https://my-resource.openai.azure.com` (no `/openai/v1`).',
    required: true,
    parse: url,
  },
  openaiApiKey: {
    name: 'AZURE_OPENAI_API_KEY',
    description:
      'Optional API key. When absent (always, in Azure) the managed identity is used via Entra ID.',
    parse: str,
  },
  openaiTokenScope: {
    name: 'AZURE_OPENAI_TOKEN_SCOPE',
    description: 'Entra ID scope for Azure OpenAI tokens.',
    default: 'https://ai.azure.com/.default',
    parse: str,
  },
  clientId: {
    name: 'AZURE_CLIENT_ID',
    description: 'Client id of the user-assigned managed identity that `DefaultAzureCredential` uses.',
    parse: str,
  },
  chatDeployment: {
    name: 'AZURE_OPENAI_CHAT_DEPLOYMENT',
    description: 'Default deployment for `/v1/responses` when the request has no `model`.',
    required: true,
    parse: str,
  },
  imageDeployment: {
    name: 'AZURE_OPENAI_IMAGE_DEPLOYMENT',
    description:
      'Image model deployment sent as `x-ms-oai-image-generation-deployment` when a request uses the `image_generation` tool.',
    required: true,
    parse: str,
  },
  summaryDeployment: {
    name: 'AZURE_OPENAI_SUMMARY_DEPLOYMENT',
    description: 'Deployment that summarizes PDFs dropped into `documents/`.',
    required: true,
    parse: str,
  },
  allowedDeployments: {
    name: 'AZURE_OPENAI_ALLOWED_DEPLOYMENTS',
    description:
      'Comma-separated deployments callers may name in `model`. Default: the chat and summary deployments.',
    parse: list,
  },
  openaiTimeoutMs: {
    name: 'AZURE_OPENAI_TIMEOUT_MS',
    description:
      'Timeout of one upstream request, in ms. With the retries, an HTTP request stays under the 230 s HTTP limit of Azure Functions (60 s × 3 attempts).',
    default: '60000',
    parse: int(1000, 600_000),
  },
  openaiMaxRetries: {
    name: 'AZURE_OPENAI_MAX_RETRIES',
    description:
      'Upstream retries (honouring `retry-after-ms`/`retry-after`). A create without an `Idempotency-Key` is retried on 429 only (a 5xx or timeout may hide a created response); creates behind a key and all other calls also on 5xx and connection errors.',
    default: '2',
    parse: int(0, 10),
  },
  idSealingKeys: {
    name: 'ID_SEALING_KEYS',
    description:
      'Keys that bind every id handed to a caller to that caller (`kid:base64secret`, comma-separated, first is current; secrets of 32+ bytes). A Key Vault reference in Azure; `npm start` generates one into local.settings.json.',
    required: true,
    parse: sealingKeys,
  },
  sharedPromptIds: {
    name: 'SHARED_PROMPT_IDS',
    description: 'Prompt ids (`prompt.id`) every caller may use, comma-separated; any other is refused.',
    parse: sharedIds,
  },
  sharedVectorStoreIds: {
    name: 'SHARED_VECTOR_STORE_IDS',
    description: 'Vector store ids (`tools[].vector_store_ids`) every caller may use, comma-separated.',
    parse: sharedIds,
  },
  sharedConversationIds: {
    name: 'SHARED_CONVERSATION_IDS',
    description: 'Conversation ids (`conversation`) every caller may use, comma-separated.',
    parse: sharedIds,
  },
  sharedSkillIds: {
    name: 'SHARED_SKILL_IDS',
    description: 'Skill ids (`skill_id` in container environments) every caller may use, comma-separated.',
    parse: sharedIds,
  },
  sharedMcpTunnelIds: {
    name: 'SHARED_MCP_TUNNEL_IDS',
    description: 'MCP tunnel ids (`tools[].tunnel_id`) every caller may use, comma-separated.',
    parse: sharedIds,
  },
  appServiceAuth: {
    name: 'APP_SERVICE_AUTH_ENABLED',
    description:
      'Trust the `x-ms-client-principal*` headers of App Service Authentication (Entra ID). Only set when Easy Auth is in front of the app.',
    default: 'false',
    parse: bool,
  },
  maxRequestBytes: {
    name: 'MAX_REQUEST_BYTES',
    description: 'Largest request body accepted, in bytes; larger bodies get 413.',
    default: String(64 * 1024 * 1024),
    parse: int(1024),
  },
  filesApiThresholdBytes: {
    name: 'PDF_FILES_API_THRESHOLD_BYTES',
    description:
      'PDFs larger than this (bytes) are uploaded through the Files API and sent by `file_id` instead of inline `file_data`.',
    default: String(8 * 1024 * 1024),
    parse: int(0),
  },
  pollSchedule: {
    name: 'POLL_SCHEDULE',
    description: 'NCRONTAB schedule (six fields) of the background poller timer.',
    default: '*/5 * * * * *',
    parse: str,
  },
  dueIndexPartitions: {
    name: 'DUE_INDEX_PARTITIONS',
    description:
      'Table partitions the due index (jobs, webhook deliveries, due tasks) is spread over; every tick queries each. Azure serves about 2,000 entities/s per partition; 4 leaves room for about four times the 10,000-job peak of one partition. Raise it freely; rows in partitions above a lowered value are no longer scanned (see docs/scale.md).',
    default: '4',
    parse: int(1, 64),
  },
  pollInitialDelayMs: {
    name: 'POLL_INITIAL_DELAY_MS',
    description: 'First delay between upstream polls of a background job, in ms; it doubles up to the cap.',
    default: '1000',
    parse: int(0),
  },
  pollMaxDelayMs: {
    name: 'POLL_MAX_DELAY_MS',
    description: 'Cap of the delay between polls of one background job, in ms.',
    default: '30000',
    parse: int(0),
  },
  pollConcurrency: {
    name: 'POLL_CONCURRENCY',
    description:
      'Jobs one timer tick claims at once (each claim is storage calls, then a queue message; the queue trigger polls). Where a tick polls itself (tests, tools), the upstream polls in flight.',
    default: '16',
    parse: int(1, 256),
  },
  pollTickBudgetMs: {
    name: 'POLL_TICK_BUDGET_MS',
    description: 'A timer tick stops taking new work after this many ms; the rest waits for the next tick.',
    default: '20000',
    parse: int(100),
  },
  jobMaxAgeSeconds: {
    name: 'JOB_MAX_AGE_SECONDS',
    description: 'A background job still running after this long is marked `expired` and cancelled upstream.',
    default: String(24 * 3600),
    parse: int(1),
  },
  publicBaseUrl: {
    name: 'PUBLIC_BASE_URL',
    description:
      'Base URL callers reach this app at, used for links in webhook events. Default `https://$WEBSITE_HOSTNAME` in Azure, `http://localhost:7071` locally.',
    parse: url,
  },
  upstreamWebhookSecret: {
    name: 'UPSTREAM_WEBHOOK_SECRET',
    description:
      'Signing secret of the webhook endpoint registered on the Azure OpenAI resource (`whsec_...`). Set: `POST /api/v1/upstream/webhooks` finalizes background jobs as soon as Azure OpenAI reports their end; absent: the route answers 404 and only the poller finalizes. A Key Vault reference in Azure (docs/upstream-webhooks.md).',
    parse: upstreamSecret,
  },
  webhookSchedule: {
    name: 'WEBHOOK_SCHEDULE',
    description: 'NCRONTAB schedule (six fields) of the completion-webhook delivery timer.',
    default: '*/5 * * * * *',
    parse: str,
  },
  webhookTimeoutMs: {
    name: 'WEBHOOK_TIMEOUT_MS',
    description: 'Timeout of one webhook delivery attempt (connect to last byte), in ms.',
    default: '10000',
    parse: int(500, 60_000),
  },
  webhookConcurrency: {
    name: 'WEBHOOK_CONCURRENCY',
    description: 'Webhook deliveries in flight at once during one delivery-timer tick.',
    default: '8',
    parse: int(1, 256),
  },
  webhookRetryWindowSeconds: {
    name: 'WEBHOOK_RETRY_WINDOW_SECONDS',
    description: 'A webhook delivery is retried with growing delays for this long, then marked `failed`.',
    default: String(24 * 3600),
    parse: int(1),
  },
  limitRequestsPerMinute: {
    name: 'LIMIT_REQUESTS_PER_MINUTE',
    description: 'Default requests per minute per caller (creates and compactions); unset: no limit.',
    parse: int(1),
  },
  limitTokensPerMinute: {
    name: 'LIMIT_TOKENS_PER_MINUTE',
    description: 'Default tokens per minute per caller (estimated, then the actual usage); unset: no limit.',
    parse: int(1),
  },
  limitTokensPerDay: {
    name: 'LIMIT_TOKENS_PER_DAY',
    description: 'Default daily token budget per caller (UTC days); unset: no budget.',
    parse: int(1),
  },
  limitSyncIntervalMs: {
    name: 'LIMIT_SYNC_INTERVAL_MS',
    description: 'How often each instance reconciles its rate-limit counters with the others, in ms.',
    default: '1000',
    parse: int(100, 60_000),
  },
  documentMaxBytes: {
    name: 'DOCUMENT_MAX_BYTES',
    description: 'PDFs larger than this (bytes) are rejected before any token is spent.',
    default: String(50 * 1024 * 1024),
    parse: int(1),
  },
  appInsightsConnectionString: {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING',
    description:
      'Application Insights connection string; when set, token and request counts go there as custom metrics (README "Usage"). Unset: no metrics.',
    parse: str,
  },
  appInsightsAuthentication: {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    description:
      '`ClientId=<managed identity client id>;Authorization=AAD`: metrics are sent with an Entra token of that identity (Bicep sets it; local auth is off on the resource).',
    parse: str,
  },
  metricsExportIntervalMs: {
    name: 'METRICS_EXPORT_INTERVAL_MS',
    description:
      'How often token metrics are sent to Application Insights (ms); also sent when the host stops.',
    default: '60000',
    parse: int(1000, 3_600_000),
  },
  summaryInstructions: {
    name: 'SUMMARY_INSTRUCTIONS',
    description: 'Instructions given to the summary deployment for each PDF.',
    default:
      'Summarize this document in Markdown: a one-paragraph overview, then the key points as a bulleted list. Quote figures and names exactly.',
    parse: str,
  },
} as const satisfies Record<string, SettingSpec<unknown>>;

type Settings = typeof SETTINGS;
type Key = keyof Settings;
type ValueOf<K extends Key> = Settings[K]['parse'] extends Parser<infer T> ? T : never;
type Resolved<K extends Key> = Settings[K] extends { required: true } | { default: string }
  ? ValueOf<K>
  : ValueOf<K> | undefined;
export type Config = Omit<{ [K in Key]: Resolved<K> }, 'allowedDeployments'> & {
  /** Always filled: defaults to the chat and summary deployments. */
  allowedDeployments: string[];
  storage: StorageConfig;
};

export type StorageConfig =
  | { kind: 'connectionString'; connectionString: string }
  | { kind: 'identity'; blobServiceUri: string; tableServiceUri: string; queueServiceUri: string };

/** Reads and validates every setting from `env`. Throws a ConfigError naming the first bad or missing setting. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(SETTINGS) as [Key, SettingSpec<unknown>][]) {
    const raw = env[spec.name]?.trim() || spec.default;
    if (raw === undefined || raw === '') {
      if (spec.required) {
        throw new ConfigError(`Setting ${spec.name} is required: ${spec.description}`);
      }
      out[key] = undefined;
      continue;
    }
    out[key] = spec.parse(raw, spec.name);
  }
  const config = out as Omit<Config, 'storage' | 'allowedDeployments'> & { allowedDeployments?: string[] };
  let storage: StorageConfig;
  if (config.storageConnection) {
    storage = { kind: 'connectionString', connectionString: config.storageConnection };
  } else if (config.storageBlobServiceUri && config.storageTableServiceUri && config.storageQueueServiceUri) {
    storage = {
      kind: 'identity',
      blobServiceUri: config.storageBlobServiceUri,
      tableServiceUri: config.storageTableServiceUri,
      queueServiceUri: config.storageQueueServiceUri,
    };
  } else {
    throw new ConfigError(
      'Setting AzureWebJobsStorage is required (or AzureWebJobsStorage__blobServiceUri, AzureWebJobsStorage__tableServiceUri and AzureWebJobsStorage__queueServiceUri for identity-based storage).',
    );
  }
  if (!config.allowedDeployments || config.allowedDeployments.length === 0) {
    config.allowedDeployments = [...new Set([config.chatDeployment, config.summaryDeployment])];
  }
  return { ...config, storage } as Config;
}

let cached: Config | undefined;

/** The process-wide configuration, loaded on first use (never at import time). */
export function getConfig(): Config {
  cached ??= loadConfig();
  return cached;
}

/** Tests and the local host change settings between runs; this forgets the cached copy. */
export function resetConfigForTests(): void {
  cached = undefined;
}
