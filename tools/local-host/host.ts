/**
 * A local Azure Functions host for `npm start` and end-to-end tests, for machines without Core Tools.
 * It loads the production entry unchanged and serves its `app.http` / `app.timer` / `app.storageBlob` /
 * `app.storageQueue` registrations the way the real host does; see README.md next to this file for what maps to what.
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import {
  displayPath,
  entryFiles,
  forgetAppModules,
  loadApp,
  readHostJson,
  routePrefixOf,
} from './app-loader';
import { BlobClients, parseBlobPath } from './blob-storage';
import { BLOB_WEBHOOK_PATH, handleBlobWebhook, runBlobFunction, type BlobEventContext } from './blob-events';
import { startBlobWatcher, type BlobWatcher } from './blob-watcher';
import { createCoreApi, createRegistry, provideCoreApi, type RegisteredFunction } from './core-api';
import type { RpcTypedData } from './core-types';
import { serveHttpTrigger, type HttpTriggerContext } from './http-trigger';
import { bindingString, invokeFunction, runHooks, triggerOf } from './invoke';
import { createLogger, defaultSink, describeError } from './logger';
import { compileRoute, displayRoute, matchRoute, sortRoutes, type CompiledRoute } from './routing';
import { applySettings, readLocalSettings } from './settings';
import { startTimer, timerInput, type TimerRunner } from './timers';
import { queueOptions, startQueueListener, type QueueListener } from './queue-trigger';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LocalHostOptions {
  /** The app folder (with package.json, host.json, local.settings.json). Default: the current directory. */
  appRoot?: string;
  /** HTTP port; 0 picks a free one. Default: local.settings.json `Host.LocalHttpPort`, else 7071. */
  port?: number;
  /** App settings that win over the environment and local.settings.json. */
  settings?: Record<string, string>;
  /** Poll blob-triggered functions' containers and fire them for new or changed blobs (for `npm start`). */
  watchBlobs?: boolean;
  /** Where the watcher remembers the blobs it fired. Default: `<appRoot>/.local/blob-watch.json`. */
  blobWatchStatePath?: string;
  /** Poll interval of the blob watcher in ms. Default 1000. */
  blobWatchIntervalMs?: number;
  /** Delay between attempts of a failing blob trigger, in ms. Default 250. */
  blobRetryDelayMs?: number;
  /** Run queue-triggered functions against their queues. Default true. */
  queueTriggers?: boolean;
  /** Receives every output line instead of stdout/stderr. */
  log?: (line: string) => void;
}

export interface LocalHost {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:7071`. */
  url: string;
  port: number;
  /** Names of the registered functions. */
  functions: string[];
  close(): Promise<void>;
}

const HOST_REASON = 'This function was programmatically called via the host APIs.';

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function readText(req: IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
}

/**
 * Runs `fn` while recording the HTTP servers it creates. The library starts its streaming proxy inside
 * `getCapabilities` and keeps no handle a host could close (`src/http/httpProxy.ts`); an in-process host that is
 * closed and started again must close it, or the old app keeps the process alive.
 */
async function recordingServers<T>(fn: () => Promise<T>): Promise<{ value: T; servers: Server[] }> {
  const servers: Server[] = [];
  const original = http.createServer;
  const recording = ((...args: Parameters<typeof http.createServer>) => {
    const server = original(...args);
    servers.push(server);
    return server;
  }) as typeof http.createServer;
  http.createServer = recording;
  try {
    return { value: await fn(), servers };
  } finally {
    if (http.createServer === recording) http.createServer = original;
  }
}

/**
 * Where to reach the library's proxy. It answers `http://localhost:<port>/` for a server that listens on every
 * address (`server.listen()` in `src/http/httpProxy.ts`: `::`, dual-stack, or `0.0.0.0` without IPv6), so
 * `localhost` would be resolved again for every request (a `getaddrinfo` round trip through libuv's thread pool)
 * and may be tried as `::1` first. The loopback address of what the server actually listens on is used instead.
 */
export function proxyAddress(httpUri: string, servers: readonly Server[]): string {
  const url = new URL(httpUri);
  for (const server of servers) {
    const address = server.address();
    if (!address || typeof address !== 'object' || String(address.port) !== url.port) continue;
    if (address.address === '::' || address.address === '0.0.0.0') url.hostname = '127.0.0.1';
    else url.hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    break;
  }
  return url.toString();
}

export async function startLocalHost(options: LocalHostOptions = {}): Promise<LocalHost> {
  const appRoot = resolve(options.appRoot ?? process.cwd());
  const userLog = options.log;
  const logger = createLogger(userLog ? (line) => userLog(line) : defaultSink);
  const started = Date.now();

  const hostJson = readHostJson(appRoot);
  const localSettings = readLocalSettings(appRoot);
  applySettings(localSettings, options.settings);
  const prefix = routePrefixOf(hostJson);

  // Load the app against this host's functions-core object.
  const registry = createRegistry();
  provideCoreApi(
    createCoreApi(registry, (level, category, message) => {
      if (category === 'system' && (level === 'debug' || level === 'trace')) return;
      logger.host(level, message);
    }),
  );
  forgetAppModules(appRoot);
  const files = entryFiles(appRoot);
  logger.host('information', `Loading ${files.map((f) => displayPath(appRoot, f)).join(', ')}`);
  loadApp(appRoot, files);

  await runHooks(registry, 'appStart', {
    hookData: {},
    appHookData: registry.appHookData,
    functionAppDirectory: appRoot,
  });

  let proxyUri: string | undefined;
  let proxyServers: Server[] = [];
  const model = registry.programmingModel;
  if (model?.getCapabilities) {
    const { value, servers } = await recordingServers(() => model.getCapabilities!({}));
    proxyUri = value.HttpUri === undefined ? undefined : proxyAddress(value.HttpUri, servers);
    proxyServers = servers;
  }

  const functions = [...registry.functions.values()];
  // `AzureWebJobs.<name>.Disabled=true` turns a function off, as the host's app setting does: its trigger does
  // not fire (an HTTP route answers 404). It stays listed, marked disabled.
  const disabled = (f: RegisteredFunction) =>
    /^(true|1)$/i.test(process.env[`AzureWebJobs.${f.metadata.name}.Disabled`] ?? '');
  const byType = (re: RegExp): RegisteredFunction[] =>
    functions.filter((f) => !disabled(f) && re.test(String(triggerOf(f).binding.type)));
  const httpFunctions = byType(/^httpTrigger$/i);
  const timerFunctions = byType(/^timerTrigger$/i);
  const blobFunctions = byType(/^blobTrigger$/i);
  const queueFunctions = byType(/^queueTrigger$/i);

  const routes: CompiledRoute<RegisteredFunction>[] = sortRoutes(
    httpFunctions.map((fn) => {
      const { binding } = triggerOf(fn);
      const template = typeof binding.route === 'string' ? binding.route : fn.metadata.name;
      const methods = Array.isArray(binding.methods) ? (binding.methods as string[]) : [];
      return compileRoute(template, methods, fn, prefix, (c) =>
        logger.host(
          'warning',
          `Route "${template}" of ${fn.metadata.name}: unknown constraint ${c} is ignored.`,
        ),
      );
    }),
  );

  // Kept-alive connections to the library's proxy: one connection per request cost a TCP handshake on every call.
  // The proxy server closes idle connections after 5 s and says so (`Keep-Alive: timeout=5`); with a `timeout`
  // set, the agent drops idle sockets a second before that (Node's `keepSocketAlive`), so a request never goes out
  // on a socket the server is closing. The timeout only emits 'timeout' on a request in flight, which no one
  // handles here: long quiet streams are not cut. Same settings as Node's global agent, plus `noDelay` (Nagle off,
  // Node's default, stated on purpose: an SSE event is one small write that must leave at once).
  const agent = new http.Agent({ keepAlive: true, timeout: 5000, scheduling: 'lifo', noDelay: true });
  const httpCtx: HttpTriggerContext = { registry, logger, proxyUri, agent };
  const clients = new BlobClients();
  const blobCtx: BlobEventContext = {
    functions: registry.functions,
    clients,
    logger,
    retryDelayMs: options.blobRetryDelayMs ?? 250,
    pending: new Set(),
    invoke: (fn, data, triggerMetadata) =>
      invokeFunction(
        registry,
        fn,
        { inputData: [{ name: triggerOf(fn).name, data }], triggerMetadata, reason: 'New blob detected.' },
        logger,
      ),
  };

  const runTimer = (fn: RegisteredFunction, input: RpcTypedData, reason: string): Promise<unknown> =>
    invokeFunction(
      registry,
      fn,
      { inputData: [{ name: triggerOf(fn).name, data: input }], triggerMetadata: {}, reason },
      logger,
    );

  /** `POST /admin/functions/{name}`: runs a non-HTTP function once and answers 202 when it finished. */
  const adminInvoke = async (name: string, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const fn =
      registry.functions.get(name) ??
      functions.find((f) => f.metadata.name.toLowerCase() === name.toLowerCase());
    if (!fn) return sendText(res, 404, `Function "${name}" not found.`);
    let input = '';
    const raw = await readText(req);
    if (raw.trim()) {
      try {
        const parsed = JSON.parse(raw) as { input?: unknown };
        input =
          typeof parsed.input === 'string'
            ? parsed.input
            : parsed.input === undefined
              ? ''
              : JSON.stringify(parsed.input);
      } catch {
        return sendText(res, 400, 'The body must be JSON: { "input": "..." }.');
      }
    }
    const { name: bindingName, binding } = triggerOf(fn);
    const type = String(binding.type).toLowerCase();
    try {
      if (type === 'httptrigger')
        return sendText(res, 400, `${fn.metadata.name} is HTTP-triggered; call its route instead.`);
      if (type === 'timertrigger') await runTimer(fn, timerInput(false, undefined, undefined), HOST_REASON);
      else if (type === 'blobtrigger') {
        // As with the host, the input is the blob path "container/name".
        const slash = input.indexOf('/');
        if (slash < 1)
          return sendText(res, 400, 'The input of a blob-triggered function is "container/blobName".');
        const container = input.slice(0, slash);
        const blobName = input.slice(slash + 1);
        const values = parseBlobPath(bindingString(binding, 'path')).match(blobName) ?? {};
        await runBlobFunction(blobCtx, fn, container, blobName, values);
      } else {
        await invokeFunction(
          registry,
          fn,
          {
            inputData: [{ name: bindingName, data: { string: input } }],
            triggerMetadata: {},
            reason: HOST_REASON,
          },
          logger,
        );
      }
      res.writeHead(202, { 'content-length': '0' }).end();
    } catch (err) {
      sendText(res, 500, describeError(err));
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    if (/^\/admin\/host\/status\/?$/i.test(path)) {
      return sendJson(res, 200, {
        id: 'local-host',
        state: 'Running',
        version: '4.x (local host)',
        processUptime: Date.now() - started,
      });
    }
    const adminFn = /^\/admin\/functions\/([^/]+)\/?$/i.exec(path);
    if (adminFn) {
      if (method !== 'POST') return sendText(res, 405, 'Use POST.');
      return adminInvoke(decodeURIComponent(adminFn[1]!), req, res);
    }
    if (path.toLowerCase() === BLOB_WEBHOOK_PATH) return handleBlobWebhook(blobCtx, req, res, url);
    const match = matchRoute(routes, method, path);
    if (match) return serveHttpTrigger(httpCtx, match.route.target, match.params, req, res);
    if (path === '/' && method === 'GET')
      return sendText(res, 200, 'Your Functions 4.0 app is up and running (local host).');
    return sendText(res, 404, '');
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.host('error', `Request ${req.method} ${req.url} failed: ${describeError(err)}`);
      if (!res.headersSent) sendText(res, 500, '');
      else res.destroy();
    });
  });
  const defaultPort = Number(localSettings.Host?.LocalHttpPort ?? 7071);
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(options.port ?? defaultPort, '127.0.0.1', () => {
        server.off('error', fail);
        ok();
      });
    });
  } catch (err) {
    for (const s of proxyServers) s.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const timers: TimerRunner[] = [];
  for (const fn of timerFunctions) {
    try {
      timers.push(
        startTimer(fn, (input) => runTimer(fn, input, 'Timer fired at ' + new Date().toISOString()), logger),
      );
    } catch (err) {
      logger.fn(fn.metadata.name, 'error', `Timer not started: ${describeError(err)}`);
    }
  }

  const listeners: QueueListener[] = [];
  if (options.queueTriggers !== false) {
    for (const fn of queueFunctions) {
      try {
        listeners.push(
          startQueueListener(
            fn,
            (data, triggerMetadata) =>
              invokeFunction(
                registry,
                fn,
                {
                  inputData: [{ name: triggerOf(fn).name, data }],
                  triggerMetadata,
                  reason: 'New queue message detected.',
                },
                logger,
              ),
            queueOptions(hostJson),
            logger,
          ),
        );
      } catch (err) {
        logger.fn(fn.metadata.name, 'error', `Queue trigger not started: ${describeError(err)}`);
      }
    }
  }

  let watcher: BlobWatcher | undefined;
  if (options.watchBlobs && blobFunctions.length > 0) {
    watcher = startBlobWatcher({
      functions: blobFunctions,
      clients,
      statePath: resolve(appRoot, options.blobWatchStatePath ?? join('.local', 'blob-watch.json')),
      intervalMs: options.blobWatchIntervalMs ?? 1000,
      selfUrl: url,
      logger,
    });
  }

  logger.host('information', 'Functions:');
  for (const fn of functions) {
    const { binding } = triggerOf(fn);
    const type = String(binding.type);
    const name = fn.metadata.name;
    if (disabled(fn)) {
      logger.host('information', `  ${name}: ${type} (disabled by AzureWebJobs.${name}.Disabled)`);
    } else if (/^httpTrigger$/i.test(type)) {
      const methods = Array.isArray(binding.methods) ? (binding.methods as string[]).join(',') : 'ALL';
      const template = typeof binding.route === 'string' ? binding.route : name;
      logger.host('information', `  ${name}: [${methods}] ${url}${displayRoute(prefix, template)}`);
    } else if (/^timerTrigger$/i.test(type)) {
      logger.host('information', `  ${name}: timerTrigger (${String(binding.schedule)})`);
    } else if (/^blobTrigger$/i.test(type)) {
      logger.host(
        'information',
        `  ${name}: blobTrigger (${String(binding.path)}, ${url}${BLOB_WEBHOOK_PATH}?functionName=Host.Functions.${name})`,
      );
    } else if (/^queueTrigger$/i.test(type) && options.queueTriggers !== false) {
      logger.host('information', `  ${name}: queueTrigger (${String(binding.queueName)})`);
    } else {
      logger.host('information', `  ${name}: ${type} (run it with POST ${url}/admin/functions/${name})`);
    }
  }
  logger.host('information', `Host started: ${url}`);

  let closing: Promise<void> | undefined;
  const close = async (): Promise<void> => {
    await watcher?.stop();
    await Promise.all([...timers, ...listeners].map((t) => t.stop()));
    await new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
    await Promise.race([Promise.allSettled([...blobCtx.pending]), sleep(5000)]);
    try {
      await runHooks(registry, 'appTerminate', { hookData: {}, appHookData: registry.appHookData });
    } catch (err) {
      logger.host('error', `appTerminate hook failed: ${describeError(err)}`);
    }
    agent.destroy();
    for (const s of proxyServers) {
      s.closeAllConnections();
      s.close();
    }
    logger.host('information', 'Host stopped.');
  };

  return {
    url,
    port,
    functions: functions.map((f) => f.metadata.name),
    close: () => (closing ??= close()),
  };
}
