/**
 * App-wide setup. The build bundles this file first and then every function file of this folder into
 * `dist/app.js` (package.json `main`), so `app.setup` runs before any function registers.
 */
import { app } from '@azure/functions';
import { watchClientDisconnects } from '../shared/platform/disconnect';
import { flushUsage } from '../shared/usage/ledger';
import { flushMetrics } from '../shared/usage/metrics';

// Streams are relayed, not buffered: without this the host collects a whole SSE body before sending it.
app.setup({ enableHttpStream: true });

// So a caller hanging up on a stream aborts the upstream request (see shared/platform/disconnect.ts).
watchClientDisconnects();

// Before the host stops this worker: usage still being written off the hot path, and metrics not yet sent.
app.hook.appTerminate(async () => {
  await flushUsage();
  await flushMetrics();
});
