// Shared in-memory observations the tests read back over HTTP (GET /api/state).
module.exports = {
  hooks: { appStart: null, preInvocation: 0, postInvocation: 0, lastPostSawPre: false },
  uploads: {},
  timer: { count: 0, running: 0, maxRunning: 0, last: null },
  startupTimer: { count: 0, last: null },
  blobAttempts: {},
  queue: { received: [], attempts: {}, running: 0, maxRunning: 0 },
};
