import Module from 'node:module';
import type {
  Disposable,
  FunctionCallback,
  FunctionMetadata,
  HookCallback,
  ProgrammingModel,
  RpcLogCategory,
  RpcLogLevel,
} from './core-types';

/** A function as the app registered it through `app.http`, `app.timer`, `app.storageBlob`, ... */
export interface RegisteredFunction {
  metadata: FunctionMetadata;
  callback: FunctionCallback;
}

export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';

/** What the app told the host while it was loaded. */
export interface Registry {
  functions: Map<string, RegisteredFunction>;
  hooks: Map<string, HookCallback[]>;
  programmingModel: ProgrammingModel | undefined;
  /** Shared by every hook for the app's lifetime (`appHookData` in the worker). */
  appHookData: Record<string, unknown>;
}

class CoreDisposable implements Disposable {
  #dispose: (() => void) | undefined;
  constructor(callOnDispose: () => void) {
    this.#dispose = callOnDispose;
  }
  static from(...items: { dispose(): unknown }[]): CoreDisposable {
    return new CoreDisposable(() => items.forEach((d) => d.dispose()));
  }
  dispose(): void {
    this.#dispose?.();
    this.#dispose = undefined;
  }
}

/**
 * The object the app receives for `require('@azure/functions-core')`: the same surface the Node.js worker
 * provides (azure-functions-nodejs-worker `src/coreApi`). `log` must exist: `app.setup({ enableHttpStream })`
 * uses its presence as the "host is v4.28+" check (`@azure/functions` `src/setup.ts`).
 */
export function createCoreApi(
  registry: Registry,
  systemLog: (level: RpcLogLevel, category: RpcLogCategory, message: string) => void,
): Record<string, unknown> {
  return {
    version: '3.12.0-local',
    hostVersion: '4.1000.0-local',
    Disposable: CoreDisposable,
    setProgrammingModel(model: ProgrammingModel): void {
      registry.programmingModel = model;
    },
    getProgrammingModel(): ProgrammingModel | undefined {
      return registry.programmingModel;
    },
    registerFunction(metadata: FunctionMetadata, callback: FunctionCallback): Disposable {
      if (registry.functions.has(metadata.name)) {
        throw new Error(`A function with the name "${metadata.name}" has already been registered.`);
      }
      registry.functions.set(metadata.name, { metadata, callback });
      return new CoreDisposable(() => registry.functions.delete(metadata.name));
    },
    registerHook(hookName: string, callback: HookCallback): Disposable {
      const list = registry.hooks.get(hookName) ?? [];
      list.push(callback);
      registry.hooks.set(hookName, list);
      return new CoreDisposable(() => {
        const i = list.indexOf(callback);
        if (i >= 0) list.splice(i, 1);
      });
    },
    log(level: RpcLogLevel, category: RpcLogCategory, message: string): void {
      systemLog(level, category, message);
    },
  };
}

export function createRegistry(): Registry {
  return { functions: new Map(), hooks: new Map(), programmingModel: undefined, appHookData: {} };
}

const CORE_ID = '@azure/functions-core';
/** A cache key no real file can have; the resolver maps the module id to it. */
const CORE_KEY = '\0local-host:@azure/functions-core';

interface ModuleInternals {
  _resolveFilename(request: string, ...rest: unknown[]): string;
}

let resolverInstalled = false;

/**
 * Makes `require('@azure/functions-core')` return `coreApi` for modules loaded from now on.
 *
 * The library requires it lazily, once, and keeps the result (`src/utils/tryGetCoreApiLazy.ts`), so the host
 * installs its object before loading the app and loads a fresh copy of the library for each app it hosts.
 */
export function provideCoreApi(coreApi: Record<string, unknown>): void {
  const internals = Module as unknown as ModuleInternals;
  if (!resolverInstalled) {
    const original = internals._resolveFilename.bind(Module);
    internals._resolveFilename = (request: string, ...rest: unknown[]) =>
      request === CORE_ID ? CORE_KEY : original(request, ...rest);
    resolverInstalled = true;
  }
  const mod = new Module(CORE_KEY);
  mod.filename = CORE_KEY;
  mod.loaded = true;
  mod.exports = coreApi;
  (Module as unknown as { _cache: Record<string, unknown> })._cache[CORE_KEY] = mod;
}
