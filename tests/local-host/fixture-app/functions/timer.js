const { app } = require('@azure/functions');
const state = require('../lib/state');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

app.timer('tick', {
  schedule: '%FIXTURE_TIMER_SCHEDULE%',
  handler: async (timer, context) => {
    const s = state.timer;
    s.count++;
    s.running++;
    s.maxRunning = Math.max(s.maxRunning, s.running);
    s.last = { isPastDue: timer.isPastDue, scheduleStatus: timer.scheduleStatus, at: Date.now() };
    try {
      await sleep(Number(process.env.FIXTURE_TIMER_WORK_MS ?? '0'));
      if (process.env.FIXTURE_TIMER_FAIL === 'true') throw new Error('timer failed on purpose');
      context.log(`tick ${s.count}`);
    } finally {
      s.running--;
    }
  },
});

app.timer('startup-timer', {
  schedule: '0 0 0 1 1 *',
  runOnStartup: true,
  handler: (timer) => {
    state.startupTimer.count++;
    state.startupTimer.last = { isPastDue: timer.isPastDue };
  },
});
