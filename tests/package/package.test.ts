/**
 * The deployment package as Azure gets it: `npm run package`'s zip (tools/package.ts, the folder azd deploys),
 * unpacked into an empty temporary folder outside the repository and loaded in a fresh Node process the way the
 * Functions worker loads it (package.json `main`, with a stub for the worker's `@azure/functions-core`).
 *
 * Needs `npm run build` first (`npm test` does it): the package is made from dist/app.js and node_modules.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePdf } from '../integration/documents-support';

const run = promisify(execFile);
const repo = resolve(__dirname, '..', '..');
const MiB = 1024 * 1024;
/** The bound for the zipped package (Flex Consumption deploys it from blob storage at each scale-out). */
const MAX_ZIP_BYTES = 40 * MiB;

const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));

/** The function names: one file per function in functions/ (index.ts is app-wide setup, not a function). */
const FUNCTION_NAMES = readdirSync(join(repo, 'functions'))
  .filter((f) => f.endsWith('.ts') && f !== 'index.ts')
  .map((f) => f.slice(0, -3))
  .sort();

let work: string;
let unpacked: string;
let zipPath: string;
let zipBytes: number;
let packageOutput: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'rg-package-'));
  const { stdout } = await run(
    process.execPath,
    [join(repo, 'dist/tools/package.js'), '--out', join(work, 'out')],
    {
      cwd: repo,
      maxBuffer: 4 * MiB,
    },
  );
  packageOutput = stdout;
  zipPath = stdout.trim().split('\n').at(-1)!;
  zipBytes = statSync(zipPath).size;

  // Unpack into a folder of its own: nothing else beside it, no repository above it.
  unpacked = join(work, 'site', 'wwwroot');
  for (const [name, data] of Object.entries(unzipSync(readFileSync(zipPath)))) {
    if (name.endsWith('/')) continue;
    const file = join(unpacked, name);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, data);
  }
}, 120_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) filesUnder(path, out);
    else out.push(path);
  }
  return out;
}

/** Installed package names (top level and nested) inside a node_modules tree. */
function packagesUnder(nodeModules: string, prefix = 'node_modules'): string[] {
  const names: string[] = [];
  if (!existsSync(nodeModules)) return names;
  for (const entry of readdirSync(nodeModules)) {
    const dirs = entry.startsWith('@')
      ? readdirSync(join(nodeModules, entry)).map((n) => `${entry}/${n}`)
      : [entry];
    for (const name of dirs) {
      if (!existsSync(join(nodeModules, name, 'package.json'))) continue;
      names.push(`${prefix}/${name}`);
      names.push(...packagesUnder(join(nodeModules, name, 'node_modules'), `${prefix}/${name}/node_modules`));
    }
  }
  return names;
}

describe('npm run package', () => {
  it('prints the zip as its last line, and the zip is at most 40 MiB', () => {
    expect(zipPath.endsWith('.zip')).toBe(true);
    expect(existsSync(zipPath)).toBe(true);
    expect(zipBytes).toBeLessThanOrEqual(MAX_ZIP_BYTES);
    expect(packageOutput).toMatch(/MiB zipped/);
  });

  it('holds the bundle, host.json, a production package.json and production dependencies, nothing else', () => {
    expect(readdirSync(unpacked).sort()).toEqual(['dist', 'host.json', 'node_modules', 'package.json']);
    expect(readdirSync(join(unpacked, 'dist'))).toEqual([manifest.main.replace(/^dist\//, '')]);
    expect(readFileSync(join(unpacked, 'host.json'), 'utf8')).toBe(
      readFileSync(join(repo, 'host.json'), 'utf8'),
    );

    const deployed = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8'));
    expect(deployed.main).toBe(manifest.main);
    expect(deployed.dependencies).toEqual(manifest.dependencies);
    expect(deployed.devDependencies).toBeUndefined();
    expect(deployed.scripts).toBeUndefined();
  });

  it('contains no devDependency, nor any package the lockfile marks dev-only', () => {
    const installed = packagesUnder(join(unpacked, 'node_modules'));
    expect(installed.length).toBeGreaterThan(Object.keys(manifest.dependencies).length);
    for (const name of Object.keys(manifest.devDependencies)) {
      expect(installed, `devDependency ${name} is in the package`).not.toContain(`node_modules/${name}`);
    }
    const devOnly = installed.filter((key) => lock.packages[key]?.dev === true);
    expect(devOnly).toEqual([]);
    // Every installed package is the version the lockfile pins.
    for (const key of installed) {
      const version = JSON.parse(readFileSync(join(unpacked, key, 'package.json'), 'utf8')).version;
      expect(`${key}@${version}`).toBe(`${key}@${lock.packages[key]?.version}`);
    }
  });

  it('contains no native binary, no sources, tests, tooling or local state', () => {
    const files = filesUnder(unpacked).map((f) => f.slice(unpacked.length + 1).replace(/\\/g, '/'));
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([]);
    expect(files.filter((f) => !f.startsWith('node_modules/') && /\.(ts|map)$/.test(f))).toEqual([]);
    const local = /(^|\/)(local\.settings\.json|\.azurite|\.local|\.git|\.env)(\/|$)/;
    expect(files.filter((f) => local.test(f))).toEqual([]);
    expect(
      packagesUnder(join(unpacked, 'node_modules')).filter((k) => /canvas|pdfjs-dist|pdf-parse/.test(k)),
    ).toEqual([]);
  });

  it('loads package.json main under the worker core API and registers every function, from the package alone', async () => {
    const pdf = join(work, 'two-pages.pdf');
    writeFileSync(pdf, await makePdf(['First line.', 'Second line.']));
    const { stdout } = await run(process.execPath, [join(__dirname, 'load-package.mjs'), unpacked, pdf], {
      cwd: unpacked,
      // Nothing from outside the package: no NODE_PATH, no preloads of the test runner.
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: '' },
      maxBuffer: 4 * MiB,
    });
    const loaded = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(loaded.error).toBeUndefined();
    expect(loaded.registrations.map((r: { name: string }) => r.name).sort()).toEqual(FUNCTION_NAMES);
    const triggers = Object.fromEntries(
      loaded.registrations.map((r: { name: string; bindings: string[] }) => [r.name, r.bindings[0]]),
    );
    expect(triggers['documents-blob']).toBe('blobTrigger');
    expect(triggers['poll-background-timer']).toBe('timerTrigger');
    expect(triggers['health']).toBe('httpTrigger');
    expect(loaded.outside).toEqual([]);
    expect(loaded.unresolved).toEqual([]);
    expect(loaded.pdfPages).toBe(1);
  });
});
