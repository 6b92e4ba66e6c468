/**
 * App-wide setup, loaded by the Functions host together with every file in this folder
 * (package.json `main` is `dist/functions/*.js`).
 */
import { app } from '@azure/functions';
import { watchClientDisconnects } from '../shared/platform/disconnect';
import { registerBackgroundHooks } from '../shared/hooks';

// Streams are relayed, not buffered: without this the host collects a whole SSE body before sending it.
app.setup({ enableHttpStream: true });

// So a caller hanging up on a stream aborts the upstream request (see shared/disconnect.ts).
watchClientDisconnects();

// The poller finalizes `document` jobs, recovers stalled document claims and purges expired Idempotency-Keys
// in whichever instance runs it; every instance loads this entry.
registerBackgroundHooks();
