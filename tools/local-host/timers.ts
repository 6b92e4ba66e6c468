import { CronExpressionParser } from 'cron-parser';
import type { RegisteredFunction } from './core-api';
import type { RpcTypedData } from './core-types';
import { bindingString, triggerOf } from './invoke';
import { describeError, type Logger } from './logger';
import { resolvePlaceholders } from './settings';

/** Next occurrence strictly after `after`, for an NCRONTAB expression or an App Service `hh:mm:ss` interval. */
export type Schedule = (after: Date) => Date;

/**
 * Parses a timer schedule as the Functions host does: six-field NCRONTAB (`{second} {minute} {hour} {day}
 * {month} {day-of-week}`), five fields are rejected like the host rejects them, and a `hh:mm:ss` TimeSpan means
 * "every interval". `%SETTING%` is resolved first. Times are local (the host uses `WEBSITE_TIME_ZONE`, else UTC;
 * set TZ to match).
 */
export function parseSchedule(raw: string): { expression: string; next: Schedule } {
  const expression = resolvePlaceholders(raw).trim();
  const span = /^(\d+):(\d{2}):(\d{2})$/.exec(expression);
  if (span) {
    const ms = (Number(span[1]) * 3600 + Number(span[2]) * 60 + Number(span[3])) * 1000;
    if (ms <= 0) throw new Error(`Timer schedule "${expression}" must be a positive interval.`);
    return { expression, next: (after) => new Date(after.getTime() + ms) };
  }
  const fields = expression.split(/\s+/);
  if (fields.length !== 6) {
    throw new Error(
      `Timer schedule "${expression}" must be an NCRONTAB expression with six fields (seconds first).`,
    );
  }
  CronExpressionParser.parse(expression); // fail fast on a bad expression
  return {
    expression,
    next: (after) => CronExpressionParser.parse(expression, { currentDate: after }).next().toDate(),
  };
}

export interface TimerRunner {
  stop(): Promise<void>;
}

/** Builds the `TimerInfo` payload the host sends; the library camel-cases it to `{ isPastDue, scheduleStatus }`. */
export function timerInput(isPastDue: boolean, last: Date | undefined, next: Date | undefined): RpcTypedData {
  return {
    json: JSON.stringify({
      Schedule: { AdjustForDST: true },
      ScheduleStatus:
        last || next
          ? { Last: last?.toISOString(), Next: next?.toISOString(), LastUpdated: new Date().toISOString() }
          : null,
      IsPastDue: isPastDue,
    }),
  };
}

/** A tick that starts this much later than scheduled is reported as past due. */
const PAST_DUE_MS = 1000;
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Runs one timer function on its schedule. Like the host's singleton-locked timer listener, the next occurrence
 * is computed after the previous run finished, so a run never overlaps itself (slow runs skip missed ticks).
 * Handler errors are logged and the schedule continues.
 */
export function startTimer(
  fn: RegisteredFunction,
  run: (input: RpcTypedData) => Promise<unknown>,
  logger: Logger,
): TimerRunner {
  const { binding } = triggerOf(fn);
  const { next } = parseSchedule(bindingString(binding, 'schedule'));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let last: Date | undefined;

  const tick = async (scheduled: Date | undefined): Promise<void> => {
    const isPastDue = scheduled !== undefined && Date.now() - scheduled.getTime() > PAST_DUE_MS;
    const upcoming = next(new Date());
    try {
      await run(timerInput(isPastDue, last, upcoming));
    } catch (err) {
      logger.fn(
        fn.metadata.name,
        'error',
        `Timer run failed (the schedule continues): ${describeError(err)}`,
      );
    }
    last = scheduled ?? new Date();
  };

  let lastScheduled = new Date(0);
  const wait = (at: Date): void => {
    const delay = at.getTime() - Date.now();
    // setTimeout holds at most 2^31-1 ms (about 24.8 days); longer waits are taken in steps.
    if (delay > MAX_TIMEOUT_MS) {
      timer = setTimeout(() => wait(at), MAX_TIMEOUT_MS);
      return;
    }
    timer = setTimeout(
      () => {
        lastScheduled = at;
        running = tick(at).finally(arm);
      },
      Math.max(0, delay),
    );
  };
  const arm = (): void => {
    if (stopped) return;
    // From the later of now and the last occurrence, so a timer that fired a hair early cannot repeat it.
    const now = new Date();
    wait(next(now > lastScheduled ? now : lastScheduled));
  };

  if (binding.runOnStartup === true) running = tick(undefined).finally(arm);
  else arm();

  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running.catch(() => undefined);
    },
  };
}
