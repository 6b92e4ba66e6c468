import { existsSync, readdirSync, readFileSync, statSync, type Dirent } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, posix, relative, resolve, sep } from 'node:path';

export interface HostJson {
  version?: string;
  extensions?: { http?: { routePrefix?: string } };
}

/** `host.json` of the app; the real host refuses to start without one, so the local host does too. */
export function readHostJson(appRoot: string): HostJson {
  const file = join(appRoot, 'host.json');
  if (!existsSync(file)) throw new Error(`No host.json in ${appRoot}: this is not a Functions app folder.`);
  return JSON.parse(readFileSync(file, 'utf8')) as HostJson;
}

/** `extensions.http.routePrefix`, default `api`; an empty prefix serves routes at the root. */
export function routePrefixOf(hostJson: HostJson): string {
  const prefix = hostJson.extensions?.http?.routePrefix ?? 'api';
  return prefix.replace(/^\/+|\/+$/g, '');
}

function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charAt(i);
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = segment.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re +=
          '(?:' +
          segment
            .slice(i + 1, end)
            .split(',')
            .map(escapeRegExp)
            .join('|') +
          ')';
        i = end;
      }
    } else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Minimal glob (`*`, `?`, `**`, `{a,b}`), enough for `package.json` `main` patterns like `dist/functions/*.js`. */
export function expandGlob(root: string, pattern: string): string[] {
  const parts = pattern.split('/').filter((p) => p !== '' && p !== '.');
  const out = new Set<string>();
  const walk = (dir: string, i: number): void => {
    if (i === parts.length) {
      if (existsSync(dir) && statSync(dir).isFile()) out.add(dir);
      return;
    }
    const part = parts[i]!;
    if (part === '**') {
      walk(dir, i + 1);
      for (const entry of safeReaddir(dir)) {
        if (entry.isDirectory() && entry.name !== 'node_modules') walk(join(dir, entry.name), i);
      }
      return;
    }
    if (!/[*?{]/.test(part)) {
      walk(join(dir, part), i + 1);
      return;
    }
    const re = segmentRegExp(part);
    for (const entry of safeReaddir(dir)) {
      if (re.test(entry.name)) walk(join(dir, entry.name), i + 1);
    }
  };
  walk(root, 0);
  return [...out].sort();
}

function safeReaddir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/**
 * The files the worker loads for this app: `package.json` `main` (default `index.js`), expanded if it is a glob,
 * with an `index.js` first so app-wide setup (`app.setup`, hooks) runs before any function file registers.
 */
export function entryFiles(appRoot: string): string[] {
  const pkgFile = join(appRoot, 'package.json');
  const pkg = existsSync(pkgFile) ? (JSON.parse(readFileSync(pkgFile, 'utf8')) as { main?: string }) : {};
  const main = (pkg.main ?? 'index.js').replace(/\\/g, '/');
  const files = /[*?{]/.test(main) ? expandGlob(appRoot, main) : [resolve(appRoot, main)];
  if (files.length === 0)
    throw new Error(`package.json "main" (${main}) matches no file in ${appRoot}. Build the app first.`);
  for (const f of files)
    if (!existsSync(f)) throw new Error(`package.json "main" file not found: ${f}. Build the app first.`);
  return files.sort((a, b) => Number(basename(b) === 'index.js') - Number(basename(a) === 'index.js'));
}

/**
 * Forgets modules of an app loaded before (and the `@azure/functions` it used), so loading it again gets fresh
 * module state: the library keeps `app.setup` options, its lock and its core API in module variables.
 */
export function forgetAppModules(appRoot: string): void {
  const root = resolve(appRoot) + sep;
  const req = createRequire(join(appRoot, 'package.json'));
  let library: string | undefined;
  try {
    library = req.resolve('@azure/functions');
  } catch {
    library = undefined;
  }
  const cache = req.cache;
  for (const key of Object.keys(cache)) {
    const inApp = key.startsWith(root) && !key.includes(`${sep}node_modules${sep}`);
    // The host's own modules may live in the app folder (`dist/tools/local-host` of this repo); keep them.
    const isHost = key.includes(`${sep}tools${sep}local-host${sep}`);
    if ((inApp && !isHost) || key === library) delete cache[key];
  }
}

/** Loads the app's entry files with Node's own `require`, relative to the app folder. */
export function loadApp(appRoot: string, files: string[]): void {
  const req = createRequire(join(appRoot, 'package.json'));
  for (const file of files) req(file);
}

/** A path relative to the app folder with forward slashes, for messages. */
export function displayPath(appRoot: string, file: string): string {
  return relative(appRoot, file).split(sep).join(posix.sep);
}
