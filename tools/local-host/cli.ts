/**
 * `node dist/tools/local-host/cli.js [--port 7071] [--watch-blobs] [--app <dir>] [--blob-watch-state <file>]`
 *
 * Runs the local Functions host in the foreground until SIGINT/SIGTERM. Prints `Host started: <url>` when ready.
 */
import { parseArgs } from 'node:util';
import { startLocalHost } from './host';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      'watch-blobs': { type: 'boolean', default: false },
      app: { type: 'string' },
      'blob-watch-state': { type: 'string' },
      'blob-watch-interval': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      'Usage: node dist/tools/local-host/cli.js [--port 7071] [--watch-blobs] [--app <dir>]\n' +
        '         [--blob-watch-state <file>] [--blob-watch-interval <ms>]\n',
    );
    return;
  }
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new Error(`--port must be a port number; got "${values.port}".`);
  }
  const host = await startLocalHost({
    appRoot: values.app,
    port,
    watchBlobs: values['watch-blobs'],
    blobWatchStatePath: values['blob-watch-state'],
    blobWatchIntervalMs:
      values['blob-watch-interval'] === undefined ? undefined : Number(values['blob-watch-interval']),
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`Received ${signal}, stopping...\n`);
    host.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`Stopping failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `Local host failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
