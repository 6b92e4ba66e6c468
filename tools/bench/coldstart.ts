/**
 * Scenario 5: cold start. The time to import the production entry (`package.json` `main`, i.e. every
 * `dist/functions/*.js`) relative to importing `@azure/functions` alone, each in a fresh process, alternating;
 * and the network connections opened at import (there should be none: clients are created on first use).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../settings';
import { round, summarize, type Summary } from './stats';

interface ChildResult {
  mode: string;
  importMs: number;
  registrations: number;
  hooks: string[];
  connects: number;
  targets: string[];
  packages: Record<string, number>;
}

export interface ColdStartResult {
  runs: number;
  library: Summary;
  app: Summary;
  ratioP50: number;
  registrations: number;
  connectsAtImport: number;
  connectTargets: string[];
  /** Median inclusive import time (ms) of the packages the app's own files require at import. */
  packages: Record<string, number>;
}

function once(mode: 'library' | 'app'): ChildResult {
  const child = join(repoRoot, 'dist', 'tools', 'bench', 'coldstart-child.js');
  // A clean environment: no app settings, so an import that read configuration would fail here.
  const out = execFileSync(process.execPath, [child, mode, repoRoot], {
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as ChildResult;
}

export async function runColdStart(opts: {
  runs: number;
  log: (line: string) => void;
}): Promise<ColdStartResult> {
  const library: number[] = [];
  const app: number[] = [];
  let registrations = 0;
  let connects = 0;
  const targets = new Set<string>();
  const packageTimes = new Map<string, number[]>();
  // Warm the OS file cache once for both, then alternate.
  once('library');
  once('app');
  for (let i = 0; i < opts.runs; i++) {
    const order = i % 2 === 0 ? (['library', 'app'] as const) : (['app', 'library'] as const);
    for (const mode of order) {
      const r = once(mode);
      (mode === 'library' ? library : app).push(r.importMs);
      if (mode === 'app') {
        registrations = r.registrations;
        connects = Math.max(connects, r.connects);
        r.targets.forEach((t) => targets.add(t));
        for (const [name, t] of Object.entries(r.packages))
          packageTimes.set(name, [...(packageTimes.get(name) ?? []), t]);
      }
    }
    await Promise.resolve();
  }
  const l = summarize(library);
  const a = summarize(app);
  const result: ColdStartResult = {
    runs: opts.runs,
    library: l,
    app: a,
    ratioP50: round(a.p50 / l.p50, 3),
    registrations,
    connectsAtImport: connects,
    connectTargets: [...targets],
    packages: Object.fromEntries(
      [...packageTimes]
        .map(([name, times]) => [name, round(summarize(times).p50, 1)] as const)
        .sort(([, a], [, b]) => b - a),
    ),
  };
  opts.log(
    `  import @azure/functions p50 ${l.p50.toFixed(1)} ms; production entry p50 ${a.p50.toFixed(1)} ms (${result.ratioP50}x); ` +
      `${registrations} functions registered; ${connects} connections opened; packages: ${JSON.stringify(result.packages)}`,
  );
  return result;
}
