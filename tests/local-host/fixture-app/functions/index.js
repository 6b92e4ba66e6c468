// App-wide setup, loaded first (package.json "main" is a glob; the host loads index.js before the rest).
const { writeFileSync } = require('node:fs');
const { app } = require('@azure/functions');
const state = require('../lib/state');

// FIXTURE_STREAMING=false exercises the host's non-streaming (inputData) path.
app.setup({ enableHttpStream: process.env.FIXTURE_STREAMING !== 'false' });

app.hook.appStart((context) => {
  state.hooks.appStart = { hookData: typeof context.hookData };
});

app.hook.preInvocation((context) => {
  state.hooks.preInvocation++;
  context.hookData.preRan = true;
  if (context.invocationContext.functionName === 'hooked') {
    // Hooks may replace the handler, as the worker allows.
    const original = context.functionHandler;
    context.functionHandler = async (...args) => {
      const response = await original(...args);
      return { ...response, headers: { ...response.headers, 'x-hooked': 'pre' } };
    };
  }
});

app.hook.postInvocation((context) => {
  state.hooks.postInvocation++;
  state.hooks.lastPostSawPre = context.hookData.preRan === true;
});

app.hook.appTerminate(() => {
  if (process.env.FIXTURE_TERMINATE_MARKER) writeFileSync(process.env.FIXTURE_TERMINATE_MARKER, 'terminated');
});
