/**
 * The functions as the app registers them. Outside the Functions worker `app.http` / `app.timer` /
 * `app.storageBlob` / `app.storageQueue` register nothing (the library is in "test mode"), so each handler test file swaps in this
 * recording `app` before the function files load:
 *
 *   vi.mock('@azure/functions', async (original) => (await import('./registry.js')).recording(await original()));
 *
 * Tests then call the handler a registration holds (with `withErrors` or whatever else wraps it there), so they
 * see what a caller of the deployed route gets, wherever the error mapping lives. Only `import type` from
 * `@azure/functions` here: a value import would load the module this file is mocking.
 */
import type * as Functions from '@azure/functions';

type Library = typeof Functions;

export interface Registration {
  trigger: 'http' | 'timer' | 'storageBlob' | 'storageQueue';
  options:
    | Functions.HttpFunctionOptions
    | Functions.TimerFunctionOptions
    | Functions.StorageBlobFunctionOptions
    | Functions.StorageQueueFunctionOptions;
}

const registered = new Map<string, Registration>();

/** The library with an `app` that records registrations instead of handing them to a worker. */
export function recording(library: Library): Library {
  const record =
    (trigger: Registration['trigger']) =>
    (name: string, options: Registration['options']): void => {
      if (registered.has(name)) throw new Error(`Function "${name}" is registered twice.`);
      registered.set(name, { trigger, options });
    };
  return {
    ...library,
    app: {
      ...library.app,
      http: record('http'),
      timer: record('timer'),
      storageBlob: record('storageBlob'),
      storageQueue: record('storageQueue'),
    } as Library['app'],
  };
}

function lookup(name: string, trigger: Registration['trigger']): Registration['options'] {
  const found = registered.get(name);
  if (!found) {
    throw new Error(
      `No function "${name}" was registered. Import its file (functions/${name}.ts) after mocking '@azure/functions'.`,
    );
  }
  if (found.trigger !== trigger) throw new Error(`"${name}" is a ${found.trigger} function, not ${trigger}.`);
  return found.options;
}

export const httpFunction = (name: string) => lookup(name, 'http') as Functions.HttpFunctionOptions;
export const timerFunction = (name: string) => lookup(name, 'timer') as Functions.TimerFunctionOptions;
export const blobFunction = (name: string) =>
  lookup(name, 'storageBlob') as Functions.StorageBlobFunctionOptions;
export const queueFunction = (name: string) =>
  lookup(name, 'storageQueue') as Functions.StorageQueueFunctionOptions;
