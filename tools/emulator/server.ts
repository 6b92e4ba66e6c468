import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { billOf } from './billing';
import type { BilledResponse, EmulatorState, RequestContext } from './context';
import { EmulatorError, methodNotAllowed, routeNotFound, unauthorized } from './errors';
import { FaultRegistry, type Fault } from './faults';
import { controlRoutes } from './handlers/control';
import { fileRoutes } from './handlers/files';
import { modelRoutes } from './handlers/models';
import { responseRoutes } from './handlers/responses';
import { errorBodyOf, sendJson, sleep } from './http';
import { newRequestId } from './ids';
import { resolveOptions, type EmulatorOptions } from './options';
import { RequestLog } from './request-log';
import { Router } from './router';
import { Runner } from './runner';
import { Sealer } from './sealed';
import { FileStore, ResponseStore } from './store';
import { warmValidation } from './validate';
import { WebhookSender } from './webhooks';

export type { EmulatorOptions } from './options';

export interface RunningEmulator {
  /** `http://127.0.0.1:PORT` (append `/openai/v1` for the SDK's `baseURL`). */
  url: string;
  port: number;
  close(): Promise<void>;
}

const API_PREFIX = '/openai/v1';
const CONTROL_PREFIX = '/_emulator';

function keyOf(req: IncomingMessage): string | undefined {
  const apiKey = req.headers['api-key'];
  if (typeof apiKey === 'string' && apiKey) return apiKey;
  const auth = req.headers.authorization;
  const bearer = auth ? /^Bearer\s+(.+)$/i.exec(auth) : null;
  return bearer?.[1]?.trim();
}

/** The answer of a 429/500/503 fault, shaped like Azure's. */
function faultError(fault: Fault): EmulatorError {
  if (fault.kind === '429') {
    const ms = fault.retryAfterMs ?? 1000;
    const seconds = Math.max(1, Math.ceil(ms / 1000));
    return new EmulatorError(
      429,
      {
        error: {
          code: '429',
          message: `Requests to the Responses API under Azure OpenAI API version v1 have exceeded the rate limit of your current pricing tier. Please retry after ${seconds} second${seconds === 1 ? '' : 's'}.`,
          type: 'requests',
          param: null,
        },
      },
      { 'retry-after-ms': String(ms), 'retry-after': String(seconds), 'x-ratelimit-remaining-requests': '0' },
    );
  }
  if (fault.kind === '408') {
    return new EmulatorError(408, {
      error: {
        message: 'The operation was timeout.',
        type: 'timeout',
        param: null,
        code: 'Timeout',
      },
    });
  }
  if (fault.kind === '504') {
    return new EmulatorError(504, {
      error: {
        message: 'The gateway did not receive a response from the backend in time. Please try again later.',
        type: 'server_error',
        param: null,
        code: 'GatewayTimeout',
      },
    });
  }
  if (fault.kind === '503') {
    return new EmulatorError(503, {
      error: {
        message: 'The service is temporarily unable to process your request. Please try again later.',
        type: 'server_error',
        param: null,
        code: 'service_unavailable',
      },
    });
  }
  return new EmulatorError(500, {
    error: {
      message: 'The server had an error while processing your request. Sorry about that!',
      type: 'server_error',
      param: null,
      code: 'server_error',
    },
  });
}

/**
 * Starts an offline Azure OpenAI v1 Responses API emulator.
 * Point the `openai` SDK at `${url}/openai/v1` with the configured api key.
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const opts = resolveOptions(options);
  // Compiling the request schema takes a second or two; pay it before listening, once per process.
  warmValidation();
  if (opts.webhookUrl && !opts.webhookSecret) throw new Error('webhookUrl needs webhookSecret (whsec_...).');
  const webhooks = new WebhookSender({
    url: opts.webhookUrl,
    secret: opts.webhookSecret,
    maxAttempts: opts.webhookMaxAttempts,
    retryBaseMs: opts.webhookRetryBaseMs,
    delayMs: opts.webhookDelayMs,
    duplicates: opts.webhookDuplicates,
  });
  const billed = new Map<string, BilledResponse>();
  const state: EmulatorState = {
    options: opts,
    responses: new ResponseStore(opts.maxResponses, opts.maxStoredBytes),
    files: new FileStore(opts.maxTotalFileBytes),
    runner: new Runner({
      // Billing is recorded before the webhook goes out, so a receiver that reads usage finds it.
      onFinished: (record) => billed.set(record.id, billOf(record.snapshot, 'response')),
      onBackgroundEnd: (record) => webhooks.responseEnded(record.id, record.snapshot.status),
    }),
    webhooks,
    faults: new FaultRegistry(),
    sealer: new Sealer(opts.apiKey),
    requests: new Map(),
    log: new RequestLog(opts.maxLoggedRequests),
    streamDisconnects: 0,
    billed,
  };
  const api = new Router([...responseRoutes, ...fileRoutes, ...modelRoutes]);
  const control = new Router(controlRoutes);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    res.setHeader('x-request-id', requestId);
    res.setHeader('apim-request-id', requestId);
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://emulator.local');
    let path = url.pathname.replace(/\/+$/, '') || '/';
    let router = api;
    const isControl = path.startsWith(`${CONTROL_PREFIX}/`);
    if (isControl) {
      router = control;
      path = path.slice(CONTROL_PREFIX.length);
    } else if (path.startsWith(`${API_PREFIX}/`)) {
      path = path.slice(API_PREFIX.length);
    } else if (path.startsWith('/openai/files')) {
      // The how-to's curl uploads to /openai/files (no v1); answer it too.
      path = path.slice('/openai'.length);
    } else {
      path = '';
    }
    const match = path ? router.match(method, path) : ({ kind: 'none' } as const);
    const template =
      match.kind === 'found'
        ? match.route.template
        : match.kind === 'wrong-method'
          ? match.template
          : '(unmatched)';
    if (!isControl) {
      state.requests.set(`${method} ${template}`, (state.requests.get(`${method} ${template}`) ?? 0) + 1);
      const entry = state.log.record(req, url, template, keyOf(req));
      res.once('finish', () => (entry.status = res.statusCode));
      res.once('close', () => (entry.status ??= res.headersSent ? res.statusCode : null));
    }

    if (keyOf(req) !== opts.apiKey) throw unauthorized();
    if (!isControl) {
      const faults = state.faults.takeHttp(method, template);
      const added = faults.reduce(
        (ms, f) => ms + (f.kind === 'latency' ? (f.latencyMs ?? 1000) : 0),
        opts.latencyMs,
      );
      await sleep(added);
      const status = faults.find((f) => f.kind !== 'latency');
      if (status) throw faultError(status);
    }
    if (match.kind === 'none') throw routeNotFound();
    if (match.kind === 'wrong-method') throw methodNotAllowed(method);
    const ctx: RequestContext = { state, req, res, url, method, template, params: match.params };
    await match.route.handler(ctx);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const { status, body, headers } = errorBodyOf(err);
      // A client that hung up mid-body (ECONNRESET "aborted") is not the emulator's fault.
      const hungUp = (err as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';
      if (status === 500 && !(err instanceof EmulatorError) && !hungUp)
        console.error('[emulator] unexpected error', err);
      // Drain what the client still sends so it reads our answer instead of a reset.
      req.resume();
      sendJson(res, status, body, headers);
    });
  });
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        state.runner.stopAll();
        webhooks.close();
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
