/** `GET /api/health` at handler level: anonymous, never cached, 503 when a dependency cannot be reached. */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freePort } from '../support/ports';
import { call, startHandlerEnv, type HandlerEnv } from './support';
import '../../functions/index';
import '../../functions/health';

vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));

let env: HandlerEnv;

beforeAll(async () => {
  env = await startHandlerEnv();
});

afterAll(async () => {
  await env?.close();
});

describe('GET /api/health (health)', () => {
  it('answers 200 ok without a key when storage and the model endpoint answer', async () => {
    const answer = await call('health', { key: null });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.json()).toEqual({ status: 'ok', checks: { storage: 'ok', model: 'ok' } });
  });

  it('answers 503 degraded, naming the check, when the model endpoint does not answer', async () => {
    const endpoint = process.env.AZURE_OPENAI_ENDPOINT!;
    env.setSettings({ AZURE_OPENAI_ENDPOINT: `http://127.0.0.1:${await freePort()}` });
    try {
      const answer = await call('health', { key: null });
      expect(answer.status).toBe(503);
      expect(answer.json()).toEqual({ status: 'degraded', checks: { storage: 'ok', model: 'unreachable' } });
      expect(answer.text).not.toContain('127.0.0.1');
    } finally {
      env.setSettings({ AZURE_OPENAI_ENDPOINT: endpoint });
    }
  });
});
