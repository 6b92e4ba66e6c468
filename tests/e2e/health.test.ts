import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStack, type Stack } from './stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

it('answers the health check without a key, reporting storage and model reachability only', async () => {
  const res = await fetch(`${stack.hostUrl}/api/health`);
  expect(res.status).toBe(200);
  const body = await res.text();
  expect(JSON.parse(body)).toEqual({ status: 'ok', checks: { storage: 'ok', model: 'ok' } });
  expect(body).not.toContain('127.0.0.1');
  expect(body).not.toContain('emulator-key');
});
