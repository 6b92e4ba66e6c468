import OpenAI from 'openai';
import { startEmulator, type EmulatorOptions, type RunningEmulator } from '../../tools/emulator/server';
import { setTimeout as sleep } from 'node:timers/promises';

export const API_KEY = 'emulator-key';

export interface Harness {
  emulator: RunningEmulator;
  baseURL: string;
  client: OpenAI;
  /** A client with its own options (e.g. `maxRetries: 0`, extra headers). */
  clientWith(options: ConstructorParameters<typeof OpenAI>[0]): OpenAI;
  /** fetch against the emulator root with the api key. */
  call(path: string, init?: RequestInit): Promise<Response>;
  addFault(fault: Record<string, unknown>): Promise<void>;
  clearFaults(): Promise<void>;
}

export async function startHarness(options: EmulatorOptions = {}): Promise<Harness> {
  const emulator = await startEmulator({
    port: 0,
    streamEventDelayMs: 5,
    backgroundDurationMs: 300,
    ...options,
  });
  const baseURL = `${emulator.url}/openai/v1`;
  const clientWith = (o: ConstructorParameters<typeof OpenAI>[0]) =>
    new OpenAI({ baseURL, apiKey: API_KEY, ...o });
  const call = (path: string, init: RequestInit = {}) =>
    fetch(`${emulator.url}${path}`, {
      ...init,
      headers: { 'api-key': API_KEY, 'content-type': 'application/json', ...init.headers },
    });
  return {
    emulator,
    baseURL,
    client: clientWith({}),
    clientWith,
    call,
    async addFault(fault) {
      const res = await call('/_emulator/faults', { method: 'POST', body: JSON.stringify(fault) });
      if (res.status !== 201) throw new Error(`fault not accepted: ${res.status} ${await res.text()}`);
    },
    async clearFaults() {
      await call('/_emulator/faults', { method: 'DELETE' });
    },
  };
}

export interface SseFrame {
  event: string;
  data: string;
}

/** Splits a raw `text/event-stream` body into frames. */
export function parseSse(body: string): SseFrame[] {
  return body
    .split('\n\n')
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split('\n');
      return {
        event: lines.find((l) => l.startsWith('event: '))?.slice(7) ?? '',
        data: lines
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n'),
      };
    });
}

export async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const event of stream) out.push(event);
  return out;
}

export { sleep };

/** Polls `read` until `done` holds or the deadline passes. */
export async function until<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await sleep(25);
  }
}
