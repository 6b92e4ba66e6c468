/**
 * host.json as the idle-cost arithmetic of docs/deploy.md assumes it: a timer tick with nothing to do sends
 * Application Insights one request record and nothing else (no Executing/Executed traces, no aggregated metrics),
 * and bursts are sampled. The timers' own logs (written only when a tick did work or failed) stay.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');
const host = JSON.parse(readFileSync(join(root, 'host.json'), 'utf8'));
const TIMERS = ['poll-background-timer', 'poll-background-queue', 'webhook-delivery-timer'];

describe('host.json (idle cost)', () => {
  const levels: Record<string, string> = host.logging.logLevel;

  it('names timer functions that exist', () => {
    for (const name of TIMERS) expect(existsSync(join(root, 'functions', `${name}.ts`)), name).toBe(true);
  });

  it('drops the per-tick Executing/Executed traces of the timers but keeps what their code logs', () => {
    for (const name of TIMERS) {
      expect(levels[`Function.${name}`]).toBe('Warning');
      expect(levels[`Function.${name}.User`]).toBe('Information');
    }
    // HTTP functions keep their traces and every invocation keeps its request record.
    expect(levels.Function).toBe('Information');
    expect(levels['Host.Results']).toBe('Information');
  });

  it('sends no per-function aggregate metrics and nothing below Warning from the host by default', () => {
    expect(levels['Host.Aggregator']).toBe('Warning');
    expect(levels.default).toBe('Warning');
  });

  it('samples bursts of requests and traces, never exceptions', () => {
    const sampling = host.logging.applicationInsights.samplingSettings;
    expect(sampling.isEnabled).toBe(true);
    expect(sampling.excludedTypes).toBe('Exception');
  });

  it('polls the poll queue often enough for the poll delays and poisons a message after a few attempts', () => {
    const queues = host.extensions.queues;
    // The idle back-off tops out at 2 s, not the 1 min default: a tick's messages wait at most that long.
    expect(queues.maxPollingInterval).toBe('00:00:02');
    expect(queues.maxDequeueCount).toBeGreaterThanOrEqual(3);
    expect(queues.messageEncoding).toBe('base64');
  });
});
