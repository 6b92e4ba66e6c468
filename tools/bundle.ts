/**
 * `npm run build`'s second step: bundles every function file and the shared code they use into one file,
 * `dist/app.js`, which package.json `main` names and the Functions host loads.
 *
 * Why: a cold instance pays for module resolution and compilation file by file before it can serve anything.
 * The app's ~60 compiled modules took longer to load than `@azure/functions` itself; one file loads in a
 * fraction of that (docs/benchmarks.md, scenario 5). Packages stay external: the heavy SDKs are `require`d on
 * first use (shared/platform/sdk.ts), and bundling them would only move their cost to startup.
 *
 * `tsc` still compiles everything to dist/ (type checking, the tools, the tests' local host), so the per-file
 * output remains for debugging; the deployed package keeps only the bundle (tools/package.ts).
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(__dirname, '..', '..');

async function main(): Promise<void> {
  // index.ts first: app-wide setup before the registrations (the order the host's glob gave is not relied on).
  const files = readdirSync(join(root, 'functions'))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort((a, b) => (a === 'index.ts' ? -1 : b === 'index.ts' ? 1 : a.localeCompare(b)));
  const started = Date.now();
  const result = await build({
    stdin: {
      contents: files.map((f) => `import './functions/${f.slice(0, -3)}';`).join('\n'),
      resolveDir: root,
      sourcefile: 'app-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    packages: 'external',
    outfile: join(root, 'dist', 'app.js'),
    tsconfig: join(root, 'tsconfig.build.json'),
    // Readable stack traces in production logs: names and layout kept.
    minify: false,
    keepNames: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  const inputs = Object.keys(result.metafile.inputs).length;
  console.log(
    `dist/app.js: ${files.length} function files, ${inputs} modules bundled in ${Date.now() - started} ms`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
