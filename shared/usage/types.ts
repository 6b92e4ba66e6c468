/** Types of the usage ledger (ledger.ts) shared with the metrics and the queries. */

/** How a response reached the ledger (a dimension of the metrics, and a column of the row for diagnostics). */
export type UsageKind = 'response' | 'stream' | 'background' | 'compaction' | 'document';

/** What the upstream reports as `usage` (the Responses API's shape; every field optional). */
export interface UpstreamUsage {
  input_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens?: number;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

/** One upstream response's usage, as recorded. */
export interface UsageEntry {
  /** The upstream response id (never a sealed one: the same response has one id whichever way it is recorded). */
  responseId: string;
  callerId: string;
  deployment: string;
  /** When the response was created (epoch ms): picks the hour. */
  createdAt: number;
  /** Final status (`completed`, `failed`, `incomplete`, `cancelled`, `expired`, ...). */
  status: string;
  kind: UsageKind;
  usage: UpstreamUsage | null | undefined;
}

/** The ledger row. Token counts are integers; `hour` is the epoch second the UTC hour starts. */
export interface UsageRow {
  partitionKey: string;
  rowKey: string;
  callerId: string;
  deployment: string;
  hour: number;
  status: string;
  kind: string;
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  requests: number;
  recordedAt: number;
}
