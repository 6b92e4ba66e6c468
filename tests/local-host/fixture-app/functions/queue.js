const { app } = require('@azure/functions');
const state = require('../lib/state');

// Registered only when a test names a queue (the other tests run without Azurite).
// Records what it received; messages with `fail: true` throw, to exercise retries and the poison queue.
if (process.env.FIXTURE_QUEUE) {
  app.storageQueue('sample-queue', {
    queueName: '%FIXTURE_QUEUE%',
    connection: 'AzureWebJobsStorage',
    handler: async (message, context) => {
      const key = typeof message === 'object' && message !== null ? String(message.name) : String(message);
      state.queue.attempts[key] = (state.queue.attempts[key] ?? 0) + 1;
      state.queue.running++;
      state.queue.maxRunning = Math.max(state.queue.maxRunning, state.queue.running);
      try {
        await new Promise((resolve) => setTimeout(resolve, 50));
        if (typeof message === 'object' && message !== null && message.fail)
          throw new Error(`cannot process ${key}`);
        state.queue.received.push({ message, triggerMetadata: context.triggerMetadata });
      } finally {
        state.queue.running--;
      }
    },
  });
}
