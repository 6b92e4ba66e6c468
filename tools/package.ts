/**
 * `npm run package`: builds the one artifact that is deployed, a zip of
 *
 *   host.json
 *   package.json        name, version, main, engines and dependencies only (no scripts, no devDependencies)
 *   dist/app.js         the bundle package.json `main` names (tools/bundle.ts)
 *   node_modules/...    the production dependencies, exactly as package-lock.json pins them
 *
 * and prints the zip's path as its last line. azd deploys the same folder (azure.yaml: the service's `prepackage`
 * hook runs this, `dist` names the folder, `remoteBuild: false`), so what is tested is what runs in Azure.
 *
 *   node dist/tools/package.js [--out DIR]    default DIR: dist/package (the folder DIR/app, the zip DIR/<name>.zip)
 *
 * The production dependencies are the closure of package.json `dependencies` through package-lock.json: each
 * package's dependencies, optional dependencies and required peer dependencies, resolved the way Node resolves
 * them (nearest node_modules first). Optional peers (unpdf's canvas, only needed to render pages) and anything
 * reachable only from devDependencies stay out. Files come from the installed node_modules (`npm ci`), whose
 * versions must match the lockfile. Type declarations, source maps and docs of the packages are left out: nothing
 * loads them at run time. A native binary (*.node) fails the build: the app uses none, and one built on the
 * developer's OS would be the wrong one for Linux in Azure.
 */
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { zipSync, type Zippable } from 'fflate';

const root = resolve(__dirname, '..', '..');

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface Manifest {
  name: string;
  version: string;
  description?: string;
  license?: string;
  main: string;
  engines?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  overrides?: unknown;
}

/** Files of a dependency that nothing loads at run time. */
const PRUNED = /(\.d\.[cm]?ts|\.map|\.tsbuildinfo|\.md|\.markdown)$/i;
/** Fixed timestamp of every zip entry, so two builds of the same tree give the same bytes. */
const ZIP_MTIME = new Date('2020-01-01T00:00:00Z');

/**
 * Lockfile keys (`node_modules/a`, `node_modules/a/node_modules/b`) of the production closure, including optional
 * packages for other platforms (which are then not on disk, and skipped).
 */
export function productionPackages(lock: { packages: Record<string, LockEntry> }): string[] {
  const packages = lock.packages;
  const rootEntry = packages[''] ?? {};
  const found = new Set<string>();

  // Node's lookup: node_modules/<name> next to the requiring package, then in each parent folder.
  const locate = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const key = dir ? `${dir}/node_modules/${name}` : `node_modules/${name}`;
      if (packages[key]) return key;
      if (!dir) return undefined;
      const cut = dir.lastIndexOf('/node_modules/');
      dir = cut < 0 ? '' : dir.slice(0, cut);
    }
  };

  const visit = (from: string, entry: LockEntry): void => {
    const wanted: [string, boolean][] = [
      ...Object.keys(entry.dependencies ?? {}).map((n): [string, boolean] => [n, false]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((n): [string, boolean] => [n, true]),
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((n) => !entry.peerDependenciesMeta?.[n]?.optional)
        .map((n): [string, boolean] => [n, false]),
    ];
    for (const [name, optional] of wanted) {
      const key = locate(from, name);
      if (!key) {
        if (optional) continue;
        throw new Error(`package-lock.json has no entry for ${name} (needed by ${from || 'package.json'})`);
      }
      if (found.has(key)) continue;
      found.add(key);
      visit(key, packages[key]!);
    }
  };
  visit('', { dependencies: rootEntry.dependencies, optionalDependencies: rootEntry.optionalDependencies });
  return [...found].sort();
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, out);
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

function copyPackage(key: string, entry: LockEntry, stage: string): void {
  const from = join(root, key);
  const manifest = join(from, 'package.json');
  if (!existsSync(manifest)) {
    if (entry.optional) return; // an optional package for another platform
    throw new Error(`${key} is not installed: run \`npm ci\` first.`);
  }
  const installed = (JSON.parse(readFileSync(manifest, 'utf8')) as { version?: string }).version;
  if (entry.version && installed !== entry.version) {
    throw new Error(`${key} is ${installed}, package-lock.json pins ${entry.version}: run \`npm ci\` first.`);
  }
  const nested = join(from, 'node_modules');
  cpSync(from, join(stage, key), {
    recursive: true,
    // Nested node_modules are packages of their own in the lockfile: copied only if they are in the closure.
    filter: (src) => src !== nested && !(statSync(src).isFile() && PRUNED.test(basename(src))),
  });
}

function main(): void {
  const args = process.argv.slice(2);
  const outIndex = args.indexOf('--out');
  const out = resolve(
    outIndex >= 0 && args[outIndex + 1] ? args[outIndex + 1]! : join(root, 'dist', 'package'),
  );
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const mainFile = join(root, pkg.main);
  if (!existsSync(mainFile)) throw new Error(`${pkg.main} does not exist: run \`npm run build\` first.`);

  const stage = join(out, 'app');
  const zipPath = join(out, `${pkg.name}.zip`);
  rmSync(stage, { recursive: true, force: true });
  rmSync(zipPath, { force: true });
  mkdirSync(join(stage, 'dist'), { recursive: true });

  cpSync(mainFile, join(stage, pkg.main));
  cpSync(join(root, 'host.json'), join(stage, 'host.json'));
  const deployed: Manifest = {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    main: pkg.main,
    engines: pkg.engines,
    dependencies: pkg.dependencies,
  };
  writeFileSync(join(stage, 'package.json'), JSON.stringify(deployed, null, 2) + '\n');

  const keys = productionPackages(lock);
  for (const key of keys) copyPackage(key, lock.packages[key]!, stage);

  const files = walk(stage).sort();
  const native = files.filter((f) => f.endsWith('.node'));
  if (native.length > 0) {
    throw new Error(
      `native binaries in the package: ${native.map((f) => relative(stage, f)).join(', ')}. ` +
        'The app must not depend on one (it would be built for this machine, not for Linux in Azure).',
    );
  }

  const tree: Zippable = {};
  let unpacked = 0;
  for (const file of files) {
    const data = readFileSync(file);
    unpacked += data.byteLength;
    tree[relative(stage, file).split(sep).join('/')] = [data, { mtime: ZIP_MTIME }];
  }
  const zip = zipSync(tree, { level: 9 });
  writeFileSync(zipPath, zip);

  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const installed = keys.filter((k) => existsSync(join(stage, k))).length;
  console.log(`package: ${installed} production packages, ${files.length} files, ${mib(unpacked)} unpacked`);
  console.log(`package: folder ${relative(process.cwd(), stage) || '.'} (what azd zips and deploys)`);
  console.log(`package: ${mib(zip.byteLength)} zipped`);
  console.log(zipPath);
}

if (require.main === module) {
  try {
    main();
  } catch (e) {
    console.error(`package: ${(e as Error).message}`);
    process.exit(1);
  }
}
