import { getBlobService, getTable } from './clients';
import { getConfig } from './config';

export type CheckState = 'ok' | 'unreachable';
export interface HealthReport {
  status: 'ok' | 'degraded';
  checks: { storage: CheckState; model: CheckState };
}

const TIMEOUT_MS = 3000;

async function storageReachable(): Promise<CheckState> {
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
  } catch {
    return 'unreachable';
  }
}

async function modelReachable(): Promise<CheckState> {
  try {
    // Any HTTP answer proves the endpoint is up; no credential is sent, so nothing about us can leak or fail auth.
    await fetch(`${getConfig().openaiEndpoint}/openai/v1/models`, {
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return 'ok';
  } catch {
    return 'unreachable';
  }
}

/** Reachability of storage and of the model endpoint. Reveals no configuration. */
export async function checkHealth(): Promise<HealthReport> {
  const [storage, model] = await Promise.all([storageReachable(), modelReachable()]);
  return { status: storage === 'ok' && model === 'ok' ? 'ok' : 'degraded', checks: { storage, model } };
}
