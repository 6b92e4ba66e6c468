// Loads an unpacked deployment package the way the Functions Node.js worker does, in a fresh process:
//   node load-package.mjs <appRoot> [<pdf>]
// `@azure/functions-core` (which only the worker provides) is a stub that records registrations, as in the
// benchmark's cold-start child (tools/bench/coldstart-child.ts). Every module the app resolves is recorded, so the
// test can tell whether anything came from outside the package. Prints one JSON line.
import Module, { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';

const appRoot = resolve(process.argv[2]);
const registrations = [];
const hooks = [];
class StubDisposable {
  static from() {
    return new StubDisposable();
  }
  dispose() {}
}
const coreApi = {
  version: '3.12.0-stub',
  hostVersion: '4.1000.0-stub',
  Disposable: StubDisposable,
  setProgrammingModel: () => undefined,
  getProgrammingModel: () => undefined,
  registerFunction: (metadata) => {
    registrations.push({
      name: metadata.name,
      bindings: Object.values(metadata.bindings ?? {}).map((b) => b.type),
    });
    return new StubDisposable();
  },
  registerHook: (name) => {
    hooks.push(name);
    return new StubDisposable();
  },
  log: () => undefined,
};
const CORE_KEY = '\0stub:@azure/functions-core';
const original = Module._resolveFilename.bind(Module);
const outside = new Set();
Module._resolveFilename = (request, parent, ...rest) => {
  if (request === '@azure/functions-core') return CORE_KEY;
  const resolved = original(request, parent, ...rest);
  const fromApp = parent?.filename?.startsWith(appRoot + sep);
  if (fromApp && !Module.isBuiltin(resolved) && !resolved.startsWith(appRoot + sep)) outside.add(resolved);
  return resolved;
};
const stub = new Module(CORE_KEY);
stub.filename = CORE_KEY;
stub.loaded = true;
stub.exports = coreApi;
Module._cache[CORE_KEY] = stub;

const pkg = JSON.parse(readFileSync(join(appRoot, 'package.json'), 'utf8'));
const require = createRequire(join(appRoot, 'package.json'));
let error;
try {
  require(join(appRoot, pkg.main));
} catch (e) {
  error = String(e?.stack ?? e);
}
// Lazily loaded SDKs (shared/platform/sdk.ts) are part of the package too: resolve each production dependency from inside.
const unresolved = [];
for (const name of Object.keys(pkg.dependencies ?? {})) {
  try {
    require.resolve(name);
  } catch (e) {
    unresolved.push(`${name}: ${e.message.split('\n')[0]}`);
  }
}
// The PDF check's library loads pdf.js with a dynamic import() on first use: count the pages of a real PDF with it.
let pdfPages;
if (process.argv[3]) {
  try {
    const { getDocumentProxy } = require('unpdf');
    const doc = await getDocumentProxy(new Uint8Array(readFileSync(process.argv[3])), { verbosity: 0 });
    pdfPages = doc.numPages;
    await doc.loadingTask.destroy();
  } catch (e) {
    pdfPages = String(e);
  }
}
process.stdout.write(
  JSON.stringify({ registrations, hooks, error, outside: [...outside], unresolved, pdfPages }) + '\n',
);
