/**
 * A pass-through HTTP proxy in front of a real Azurite endpoint that can refuse chosen requests with 503, the
 * way Azure Storage answers when it is busy or failing. Partial failures (reads work, deletes fail) cannot be
 * produced by stopping Azurite, and they are where "failed" gets mistaken for "gone".
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StorageProxy {
  /** `http://127.0.0.1:<port>`: use it in place of the Azurite endpoint's origin. */
  origin: string;
  /** Refuse requests for which `match` is true (until cleared with `failWhen(undefined)`). */
  failWhen(match: ((req: IncomingMessage) => boolean) | undefined): void;
  /** How many requests were refused since the proxy started. */
  refused(): number;
  close(): Promise<void>;
}

export async function startStorageProxy(target: string): Promise<StorageProxy> {
  const upstream = new URL(target);
  let match: ((req: IncomingMessage) => boolean) | undefined;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    if (match?.(req)) {
      refused++;
      req.resume();
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ 'odata.error': { code: 'ServerBusy', message: { value: 'Injected failure.' } } }),
      );
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    failWhen: (m) => void (match = m),
    refused: () => refused,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
