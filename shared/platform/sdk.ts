/**
 * The heavy SDKs, loaded on first use rather than at import time.
 *
 * Importing `@azure/storage-blob`, `@azure/data-tables`, `@azure/identity`, `openai` and `unpdf` (pdf.js) together
 * costs ~450 ms, about 20 times what `@azure/functions` itself takes, and every scaled-out instance would pay it
 * before serving its first request. Types still come from `import type`; values come from these getters (Node
 * caches each module after its first `require`).
 *
 * The `openai` error classes are taken from the same CommonJS build as the client, so `instanceof` holds even
 * where a test runner loads the package's ESM build for static imports.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deliberate lazy loading, see above */
import type * as DataTables from '@azure/data-tables';
import type * as StorageBlob from '@azure/storage-blob';
import type * as StorageQueue from '@azure/storage-queue';
import type * as Identity from '@azure/identity';
import type * as OpenAISdk from 'openai';
import type * as OpenAIErrors from 'openai/error';
import type * as OpenAIUploads from 'openai/uploads';
import type * as Unpdf from 'unpdf';
import type Busboy from 'busboy';
import type * as IpAddr from 'ipaddr.js';
import type * as StandardWebhooks from 'standardwebhooks';
import type * as MonitorExporter from '@azure/monitor-opentelemetry-exporter';
import type * as OtelMetrics from '@opentelemetry/sdk-metrics';
import type * as Dns from 'node:dns';
import type * as Http from 'node:http';
import type * as Https from 'node:https';

export const tablesSdk = () => require('@azure/data-tables') as typeof DataTables;
export const blobSdk = () => require('@azure/storage-blob') as typeof StorageBlob;
export const queueSdk = () => require('@azure/storage-queue') as typeof StorageQueue;
export const identitySdk = () => require('@azure/identity') as typeof Identity;
export const openaiSdk = () => require('openai') as typeof OpenAISdk;
export const openaiErrors = () => require('openai/error') as typeof OpenAIErrors;
export const openaiUploads = () => require('openai/uploads') as typeof OpenAIUploads;
// unpdf: pdf.js's serverless build in one file, without the canvas binary pdf-parse pulls in (text and structure
// only; the deployed package stays small and platform-independent).
export const pdfSdk = () => require('unpdf') as typeof Unpdf;
// Smaller, but each still costs milliseconds at startup and is needed only by one route or by webhooks:
// multipart parsing (uploads), webhook signing, and the guarded outbound client (address checks, DNS, http/https).
export const busboySdk = () => require('busboy') as typeof Busboy;
export const ipaddrSdk = () => require('ipaddr.js') as typeof IpAddr;
export const standardWebhooksSdk = () => require('standardwebhooks') as typeof StandardWebhooks;
// Token metrics (shared/usage/metrics.ts): only when Application Insights is configured, on the first response.
export const monitorExporterSdk = () =>
  require('@azure/monitor-opentelemetry-exporter') as typeof MonitorExporter;
export const otelMetricsSdk = () => require('@opentelemetry/sdk-metrics') as typeof OtelMetrics;
export const dnsModule = () => require('node:dns') as typeof Dns;
export const httpModule = () => require('node:http') as typeof Http;
export const httpsModule = () => require('node:https') as typeof Https;

/** `odata` from `@azure/data-tables` (escapes values in table filters), without loading the SDK at import. */
export const odata: typeof DataTables.odata = (strings, ...values) => tablesSdk().odata(strings, ...values);
