import { getBlobService, getTable } from './clients';
import { getConfig } from './config';
import type { Log } from './log';

export type CheckState = 'ok' | 'unreachable';
export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: { storage: CheckState; model: CheckState };
}

const TIMEOUT_MS = 3000;

async function storageReachable(log: Log): Promise<CheckState> {
  try {
    const signal = AbortSignal.timeout(TIMEOUT_MS);
    await Promise.all([
      getBlobService().getProperties({ abortSignal: signal }),
      getTable('health')
        .getAccessPolicy({ abortSignal: signal })
        .catch((e: { statusCode?: number }) => {
          // A missing table still proves the table service answers.
          if (e.statusCode !== 404) throw e;
        }),
    ]);
    return 'ok';
  } catch (e) {
    log.warn(`health: storage unreachable: ${reason(e)}`);
    return 'unreachable';
  }
}

async function modelReachable(log: Log): Promise<CheckState> {
  try {
    // Any HTTP answer proves the endpoint is up; no credential is sent, so nothing about us can leak or fail auth.
    await fetch(`${getConfig().openaiEndpoint}/openai/v1/models`, {
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return 'ok';
  } catch (e) {
    log.warn(`health: model endpoint unreachable: ${reason(e)}`);
    return 'unreachable';
  }
}

/** Why a probe failed, for the log (the answer itself reveals nothing). */
const reason = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** Reachability of storage and of the model endpoint. Reveals no configuration. */
export async function checkHealth(log: Log): Promise<HealthReport> {
  const [storage, model] = await Promise.all([storageReachable(log), modelReachable(log)]);
  return { status: storage === 'ok' && model === 'ok' ? 'ok' : 'degraded', checks: { storage, model } };
}
