/**
 * Token metrics through the real Azure Monitor exporter, to a local HTTPS endpoint standing in for Application
 * Insights' ingestion service (named by the connection string's IngestionEndpoint; the exporter always speaks
 * https, so the stand-in has a throw-away self-signed certificate made with `openssl` and this test process
 * accepts it): the names and dimensions that arrive, each response counted once, and nothing of the exporter
 * loaded while no connection string is set.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { useTestStorage } from '../e2e/stack';
import { resetConfigForTests } from '../../shared/platform/config';
import { useStorageNamesForTests } from '../../shared/platform/storage-names';
import { writeUsage, type UsageEntry } from '../../shared/usage/ledger';
import { flushMetrics, METRIC_NAMES, resetMetricsForTests } from '../../shared/usage/metrics';
import { uniqueSuffix } from './support/jobs-env';
import { setTimeout as sleep } from 'node:timers/promises';

interface Envelope {
  name: string;
  iKey?: string;
  data: {
    baseType: string;
    baseData: { metrics: { name: string; value: number }[]; properties?: Record<string, string> };
  };
}

let server: Server;
let endpoint: string;
const envelopes: Envelope[] = [];
const paths: string[] = [];
const IKEY = '11111111-2222-3333-4444-555555555555';

/** A self-signed certificate for 127.0.0.1, made for this run only. */
function throwAwayCertificate(): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'ingestion-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
}

const previousTlsSetting = process.env.NODE_TLS_REJECT_UNAUTHORIZED;

beforeAll(async () => {
  // The stand-in's certificate is self-signed; only this test process talks to it.
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  server = createServer(throwAwayCertificate(), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      paths.push(req.url ?? '');
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const parsed = JSON.parse(body.toString('utf8')) as Envelope | Envelope[];
      envelopes.push(...(Array.isArray(parsed) ? parsed : [parsed]));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ itemsReceived: 1, itemsAccepted: 1, errors: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  useTestStorage(inject('storageConnectionString'), { APPLICATIONINSIGHTS_CONNECTION_STRING: '' });
  useStorageNamesForTests({ usage: `usagemetrics${uniqueSuffix()}` });
});

afterAll(async () => {
  await resetMetricsForTests();
  if (previousTlsSetting === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  else process.env.NODE_TLS_REJECT_UNAUTHORIZED = previousTlsSetting;
  delete process.env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  resetConfigForTests();
  useStorageNamesForTests();
  await new Promise((r) => server.close(r));
});

const entry = (id: string, callerId: string, status: string): UsageEntry => ({
  responseId: id,
  callerId,
  deployment: 'gpt-4.1',
  createdAt: Date.now(),
  status,
  kind: 'response',
  usage: {
    input_tokens: 120,
    input_tokens_details: { cached_tokens: 20 },
    output_tokens: 30,
    output_tokens_details: { reasoning_tokens: 5 },
  },
});

const exporterLoaded = () =>
  Object.keys(require.cache).some((k) => k.includes('monitor-opentelemetry-exporter'));

describe('token metrics', () => {
  it('are off, and the exporter not even loaded, without APPLICATIONINSIGHTS_CONNECTION_STRING', async () => {
    expect(await writeUsage(entry(`resp_off_${uniqueSuffix()}`, 'key:quiet', 'completed'))).toBe(true);
    await flushMetrics();
    expect(exporterLoaded()).toBe(false);
    expect(envelopes).toEqual([]);
  });

  it("reach Application Insights named as APIM's, with caller, deployment and status, once per response", async () => {
    process.env.APPLICATIONINSIGHTS_CONNECTION_STRING = `InstrumentationKey=${IKEY};IngestionEndpoint=${endpoint}`;
    resetConfigForTests();
    await resetMetricsForTests();
    const first = entry(`resp_m1_${uniqueSuffix()}`, 'key:billing', 'completed');
    expect(await writeUsage(first)).toBe(true);
    expect(await writeUsage(first)).toBe(false); // a duplicate write: no second count
    expect(await writeUsage(entry(`resp_m2_${uniqueSuffix()}`, 'key:search', 'incomplete'))).toBe(true);
    expect(exporterLoaded()).toBe(true);
    await flushMetrics();
    for (let i = 0; i < 50 && envelopes.length === 0; i++) await sleep(100);

    expect(paths.some((p) => p.includes('/v2.1/track'))).toBe(true);
    const points = envelopes
      .filter((e) => e.data.baseType === 'MetricData')
      .flatMap((e) =>
        e.data.baseData.metrics.map((m) => ({
          name: m.name,
          value: m.value,
          dims: e.data.baseData.properties ?? {},
        })),
      );
    const value = (name: string, caller: string) =>
      points.filter((p) => p.name === name && p.dims.caller === caller).reduce((n, p) => n + p.value, 0);
    expect(value(METRIC_NAMES.total, 'key:billing')).toBe(150);
    expect(value(METRIC_NAMES.prompt, 'key:billing')).toBe(120);
    expect(value(METRIC_NAMES.completion, 'key:billing')).toBe(30);
    expect(value(METRIC_NAMES.cached, 'key:billing')).toBe(20);
    expect(value(METRIC_NAMES.reasoning, 'key:billing')).toBe(5);
    expect(value(METRIC_NAMES.requests, 'key:billing')).toBe(1);
    expect(value(METRIC_NAMES.requests, 'key:search')).toBe(1);
    expect(
      points.find((p) => p.name === 'Total Tokens' && p.dims.caller === 'key:search')?.dims,
    ).toMatchObject({
      deployment: 'gpt-4.1',
      status: 'incomplete',
      kind: 'response',
    });
    expect(envelopes.every((e) => !e.iKey || e.iKey === IKEY)).toBe(true);
  });
});
