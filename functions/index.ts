/**
 * App-wide setup, loaded by the Functions host together with every file in this folder
 * (package.json `main` is `dist/functions/*.js`).
 */
import { app } from '@azure/functions';

// Streams are relayed, not buffered: without this the host collects a whole SSE body before sending it.
app.setup({ enableHttpStream: true });
