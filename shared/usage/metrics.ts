/**
 * Token metrics in Application Insights, named as API Management's `azure-openai-emit-token-metric` policy
 * names them (`Total Tokens`, `Prompt Tokens`, `Completion Tokens`), plus `Cached Prompt Tokens`, `Reasoning
 * Tokens` and `Model Requests`, each with the dimensions `caller`, `deployment`, `status` and `kind`. They land
 * in the `customMetrics` table (docs/usage-queries.md has the queries; the Bicep's workbook shows them).
 *
 * Sent by the OpenTelemetry metrics SDK through Azure Monitor's exporter, every METRICS_EXPORT_INTERVAL_MS and
 * when the host shuts down (functions/index.ts). Nothing of it loads unless APPLICATIONINSIGHTS_CONNECTION_STRING
 * is set, and then only when the first response is counted. With APPLICATIONINSIGHTS_AUTHENTICATION_STRING
 * (`ClientId=<id>;Authorization=AAD`, as infra/app/api.bicep sets it) the exporter authenticates as that managed
 * identity: the resource accepts no instrumentation-key-only telemetry (infra/app/monitoring.bicep).
 *
 * Emitted by the ledger write that creates a response's row (ledger.ts), so the metrics count each response
 * once too, and in the same units (OpenAI's input = prompt, output = completion).
 */
import type { TokenCredential } from '@azure/identity';
import type { Counter } from '@opentelemetry/api';
import { getConfig } from '../platform/config';
import { identitySdk, monitorExporterSdk, otelMetricsSdk } from '../platform/sdk';
import type { UsageRow } from './types';

/** Metric names, as APIM's token metric policy names its three. */
export const METRIC_NAMES = {
  total: 'Total Tokens',
  prompt: 'Prompt Tokens',
  completion: 'Completion Tokens',
  cached: 'Cached Prompt Tokens',
  reasoning: 'Reasoning Tokens',
  requests: 'Model Requests',
} as const;

interface Instruments {
  provider: { forceFlush(): Promise<void>; shutdown(): Promise<void> };
  counters: Record<
    keyof typeof METRIC_NAMES,
    { add(value: number, attributes: Record<string, string>): void }
  >;
}

/** undefined: not decided yet; null: off (no connection string). */
let instruments: Instruments | null | undefined;

/** The managed identity named by APPLICATIONINSIGHTS_AUTHENTICATION_STRING, or undefined (no Entra auth). */
export function metricsCredential(authentication: string | undefined): TokenCredential | undefined {
  if (!authentication) return undefined;
  const parts = new Map(
    authentication.split(';').map((p) => {
      const eq = p.indexOf('=');
      return [p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim()] as const;
    }),
  );
  if (parts.get('authorization')?.toLowerCase() !== 'aad') return undefined;
  const clientId = parts.get('clientid');
  const { ManagedIdentityCredential } = identitySdk();
  return clientId ? new ManagedIdentityCredential({ clientId }) : new ManagedIdentityCredential();
}

function instrumentsOf(): Instruments | undefined {
  if (instruments !== undefined) return instruments ?? undefined;
  const config = getConfig();
  const connectionString = config.appInsightsConnectionString;
  if (!connectionString) {
    instruments = null;
    return undefined;
  }
  const { AzureMonitorMetricExporter } = monitorExporterSdk();
  const { MeterProvider: Provider, PeriodicExportingMetricReader } = otelMetricsSdk();
  const exporter = new AzureMonitorMetricExporter({
    connectionString,
    credential: metricsCredential(config.appInsightsAuthentication),
  });
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis: config.metricsExportIntervalMs,
  });
  const provider = new Provider({ readers: [reader] });
  const meter = provider.getMeter('responses-gateway');
  const counter = (name: string, unit: string): Counter => meter.createCounter(name, { unit });
  instruments = {
    provider,
    counters: {
      total: counter(METRIC_NAMES.total, '{token}'),
      prompt: counter(METRIC_NAMES.prompt, '{token}'),
      completion: counter(METRIC_NAMES.completion, '{token}'),
      cached: counter(METRIC_NAMES.cached, '{token}'),
      reasoning: counter(METRIC_NAMES.reasoning, '{token}'),
      requests: counter(METRIC_NAMES.requests, '{request}'),
    },
  };
  return instruments;
}

/** Adds one ledger row to the metrics (nothing when Application Insights is not configured). */
export function emitUsageMetrics(row: UsageRow): void {
  const i = instrumentsOf();
  if (!i) return;
  const dims = { caller: row.callerId, deployment: row.deployment, status: row.status, kind: row.kind };
  i.counters.total.add(row.inputTokens + row.outputTokens, dims);
  i.counters.prompt.add(row.inputTokens, dims);
  i.counters.completion.add(row.outputTokens, dims);
  i.counters.cached.add(row.cachedInputTokens, dims);
  i.counters.reasoning.add(row.reasoningTokens, dims);
  i.counters.requests.add(row.requests, dims);
}

/** Sends what is collected now (the host's shutdown hook; tests). */
export async function flushMetrics(): Promise<void> {
  if (instruments) await instruments.provider.forceFlush();
}

/** Test seam: forget the instruments (after shutting them down) so the configuration is read again. */
export async function resetMetricsForTests(): Promise<void> {
  const current = instruments;
  instruments = undefined;
  if (current) await current.provider.shutdown();
}
