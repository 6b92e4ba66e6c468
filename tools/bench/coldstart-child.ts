/**
 * One cold import, in a fresh process: `node coldstart-child.js library|app <appRoot>`.
 *
 * `@azure/functions-core` (which only the Functions worker provides) is a stub that records registrations.
 * `net.Socket.prototype.connect` is counted from before the import until 300 ms after it, so a client created
 * at import time (or a connection opened by a timer it set) shows. Prints one JSON line.
 */
import Module, { createRequire } from 'node:module';
import net from 'node:net';
import { isAbsolute, join } from 'node:path';
import { entryFiles } from '../local-host/app-loader';

const [mode, appRoot] = process.argv.slice(2) as [string, string];

const registrations: string[] = [];
const hooks: string[] = [];
class StubDisposable {
  static from() {
    return new StubDisposable();
  }
  dispose(): void {}
}
const coreApi = {
  version: '3.12.0-stub',
  hostVersion: '4.1000.0-stub',
  Disposable: StubDisposable,
  setProgrammingModel: () => undefined,
  getProgrammingModel: () => undefined,
  registerFunction: (metadata: { name: string }) => {
    registrations.push(metadata.name);
    return new StubDisposable();
  },
  registerHook: (name: string) => {
    hooks.push(name);
    return new StubDisposable();
  },
  log: () => undefined,
};
const CORE_KEY = '\0stub:@azure/functions-core';
const internals = Module as unknown as {
  _resolveFilename(request: string, ...rest: unknown[]): string;
  _cache: Record<string, unknown>;
};
const original = internals._resolveFilename.bind(Module);
internals._resolveFilename = (request: string, ...rest: unknown[]) =>
  request === '@azure/functions-core' ? CORE_KEY : original(request, ...rest);
const stub = new Module(CORE_KEY);
stub.filename = CORE_KEY;
stub.loaded = true;
stub.exports = coreApi;
internals._cache[CORE_KEY] = stub;

let connects = 0;
const targets: string[] = [];
const proto = net.Socket.prototype as unknown as { connect: (...args: unknown[]) => net.Socket };
const connect = proto.connect;
proto.connect = function (this: net.Socket, ...args: unknown[]) {
  connects++;
  targets.push(JSON.stringify(args[0]).slice(0, 120));
  return connect.apply(this, args);
};

// Inclusive time of each package a first-party file (outside node_modules) requires, to say where import time goes.
const packages = new Map<string, number>();
const loader = Module as unknown as {
  _load(request: string, parent: { filename?: string } | null, isMain: boolean): unknown;
};
const load = loader._load.bind(Module);
let depth = 0;
loader._load = (request, parent, isMain) => {
  // Bare package names only: the entry files themselves are required by absolute path.
  const fromApp =
    !!parent?.filename && !parent.filename.includes('node_modules') && !request.startsWith('.') && !isAbsolute(request);
  const key = fromApp && !request.startsWith('node:') ? request : undefined;
  if (!key || depth > 0) return load(request, parent, isMain);
  depth++;
  const t = performance.now();
  try {
    return load(request, parent, isMain);
  } finally {
    depth--;
    packages.set(key, (packages.get(key) ?? 0) + performance.now() - t);
  }
};

const req = createRequire(join(appRoot, 'package.json'));
const files = mode === 'app' ? entryFiles(appRoot) : [];
const t0 = performance.now();
if (mode === 'library') req('@azure/functions');
else for (const file of files) req(file);
const importMs = performance.now() - t0;

setTimeout(() => {
  process.stdout.write(
    JSON.stringify({
      mode,
      importMs,
      registrations: registrations.length,
      hooks,
      connects,
      targets,
      packages: Object.fromEntries([...packages].sort(([, a], [, b]) => b - a).slice(0, 8)),
    }) + '\n',
  );
  process.exit(0);
}, 300);
