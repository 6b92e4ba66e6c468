import { afterEach, describe, expect, it } from 'vitest';
import { startLocalHost, type LocalHost } from '../../tools/local-host/host';
import { FIXTURE_APP, fixtureState, sleep, waitFor } from './helpers';

describe('timer triggers', () => {
  let host: LocalHost | undefined;
  let lines: string[] = [];
  const start = async (settings: Record<string, string>) => {
    lines = [];
    host = await startLocalHost({ appRoot: FIXTURE_APP, port: 0, settings, log: (l) => lines.push(l) });
    return host;
  };
  afterEach(async () => {
    await host?.close();
    host = undefined;
  });

  it('runs on its %SETTING% schedule and never overlaps a run with itself', async () => {
    // Every second, but each run takes 1.5 s: a singleton timer skips the ticks that fall inside a run.
    const h = await start({
      FIXTURE_TIMER_SCHEDULE: '*/1 * * * * *',
      FIXTURE_TIMER_WORK_MS: '1500',
      FIXTURE_TIMER_FAIL: 'false',
    });
    await waitFor(
      'two timer runs',
      async () => ((await fixtureState(h.url)).timer.count >= 2 ? true : undefined),
      8000,
    );
    const { timer } = await fixtureState(h.url);
    expect(timer.maxRunning).toBe(1);
    expect(timer.last?.isPastDue).toBe(false);
    expect(timer.last?.scheduleStatus).toMatchObject({ next: expect.any(String) });
    expect(lines.some((l) => l.includes("[tick] Executed 'Functions.tick' (Succeeded"))).toBe(true);
  });

  it('runs a runOnStartup timer once when the host starts', async () => {
    const h = await start({
      FIXTURE_TIMER_SCHEDULE: '0 0 0 1 1 *',
      FIXTURE_TIMER_WORK_MS: '0',
      FIXTURE_TIMER_FAIL: 'false',
    });
    const s = await waitFor('the startup run', async () => {
      const st = (await fixtureState(h.url)).startupTimer;
      return st.count === 1 ? st : undefined;
    });
    expect(s.last).toEqual({ isPastDue: false });
    expect((await fixtureState(h.url)).timer.count).toBe(0);
  });

  it('runs a timer once on POST /admin/functions/{name} and answers 202 after it completed', async () => {
    const h = await start({
      FIXTURE_TIMER_SCHEDULE: '0 0 0 1 1 *',
      FIXTURE_TIMER_WORK_MS: '300',
      FIXTURE_TIMER_FAIL: 'false',
    });
    const res = await fetch(`${h.url}/admin/functions/tick`, {
      method: 'POST',
      body: JSON.stringify({ input: '' }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(202);
    const { timer } = await fixtureState(h.url);
    expect(timer.count).toBe(1);
    expect(timer.running).toBe(0);
    expect(timer.last?.isPastDue).toBe(false);
    expect(
      (await fetch(`${h.url}/admin/functions/no-such-function`, { method: 'POST', body: '{}' })).status,
    ).toBe(404);
    expect((await fetch(`${h.url}/admin/functions/hello`, { method: 'POST', body: '{}' })).status).toBe(400);
  });

  it('logs a failing timer run, keeps the schedule going, and answers 500 with the error to an admin run', async () => {
    const h = await start({
      FIXTURE_TIMER_SCHEDULE: '*/1 * * * * *',
      FIXTURE_TIMER_WORK_MS: '0',
      FIXTURE_TIMER_FAIL: 'true',
    });
    await waitFor(
      'two failed runs',
      async () => ((await fixtureState(h.url)).timer.count >= 2 ? true : undefined),
      8000,
    );
    expect(lines.some((l) => l.includes('[tick] Error:') && l.includes('timer failed on purpose'))).toBe(
      true,
    );
    const res = await fetch(`${h.url}/admin/functions/tick`, {
      method: 'POST',
      body: JSON.stringify({ input: '' }),
    });
    expect(res.status).toBe(500);
    expect(await res.text()).toContain('timer failed on purpose');
    await sleep(50);
    expect((await fetch(`${h.url}/admin/host/status`)).status).toBe(200);
  });
});
