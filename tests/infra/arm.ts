/**
 * Compiles infra/*.bicep with the real Bicep CLI (through tools/bicep-check.sh) and walks the resulting ARM JSON.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = join(__dirname, '..', '..');

/** Parsed ARM JSON: exactly as loosely typed as `JSON.parse` returns it. */
export type Json = ReturnType<typeof JSON.parse>;

export type Compiled = { main: Json; eventgrid: Json; mainText: string; eventgridText: string };

/**
 * Builds main.bicep and eventgrid.bicep into a fresh temporary folder, so a stale dist/infra can never pass.
 * Returns `{ skipped }` when the check script finds no Bicep CLI; throws, with the CLI's output, when the build fails.
 */
export function compileInfra(): Compiled | { skipped: string } {
  const out = mkdtempSync(join(tmpdir(), 'infra-arm-'));
  const run = spawnSync('bash', [join(repoRoot, 'tools', 'bicep-check.sh'), '--build-only', '--out', out], {
    cwd: repoRoot,
    encoding: 'utf8',
    timeout: 600_000,
  });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  const skipped = /^SKIPPED: .*$/m.exec(output);
  if (skipped && run.status === 0) return { skipped: skipped[0] };
  if (run.status !== 0) {
    throw new Error(
      `tools/bicep-check.sh --build-only failed (status ${run.status ?? run.signal}):\n${output}`,
    );
  }
  const mainText = readFileSync(join(out, 'main.json'), 'utf8');
  const eventgridText = readFileSync(join(out, 'eventgrid.json'), 'utf8');
  return { main: JSON.parse(mainText), eventgrid: JSON.parse(eventgridText), mainText, eventgridText };
}

/** A template's resources: an array, or (languageVersion 2.0, used with user-defined types) an object by symbolic name. */
export function resourcesOf(template: Json): Json[] {
  const resources: unknown = template?.resources ?? [];
  return Array.isArray(resources) ? resources : Object.values(resources as object);
}

/** The template of the module deployed as `name` (a nested `Microsoft.Resources/deployments`). */
export function moduleNamed(template: Json, name: string): { deployment: Json; template: Json } {
  const deployment = resourcesOf(template).find(
    (r) => r.type === 'Microsoft.Resources/deployments' && r.name === name,
  );
  if (!deployment) throw new Error(`no module deployment named ${name}`);
  return { deployment, template: deployment.properties.template };
}

/** Every resource of the template and of its modules, recursively, with the template that declares it. */
export function allResources(template: Json): { resource: Json; template: Json }[] {
  const found: { resource: Json; template: Json }[] = [];
  const walk = (t: Json): void => {
    for (const resource of resourcesOf(t)) {
      found.push({ resource, template: t });
      if (resource.type === 'Microsoft.Resources/deployments' && resource.properties?.template) {
        walk(resource.properties.template);
      }
    }
  };
  walk(template);
  return found;
}

export function resourcesOfType(template: Json, type: string): { resource: Json; template: Json }[] {
  return allResources(template).filter(
    ({ resource }) => String(resource.type).toLowerCase() === type.toLowerCase(),
  );
}

/**
 * Replaces every `variables('x')` in an expression by the variable's value, recursively, so literals that the
 * template keeps in variables (role definition ids, name lists) become visible to a test.
 */
export function expandVariables(expression: string, template: Json, depth = 0): string {
  if (depth > 10) return expression;
  return expression.replace(/variables\('([^']+)'\)/g, (whole, name: string) => {
    const value: unknown = template.variables?.[name];
    return value === undefined ? whole : expandVariables(JSON.stringify(value), template, depth + 1);
  });
}

/** One template on the way from a module up to the entry template; `deployment` is how the parent deploys it. */
export type Level = { template: Json; deployment?: Json };

/**
 * The value an expression takes with default parameters, when it is that simple: a literal, `[parameters('x')]`,
 * `[string(parameters('x'))]` or `[variables('x')]`. A module parameter is followed up `chain` (innermost first)
 * through the module deployment's `parameters`. Anything else is `undefined`.
 */
export function defaultValue(value: unknown, chain: Level[]): unknown {
  if (typeof value !== 'string' || !value.startsWith('[') || value.startsWith('[[')) return value;
  const [level, ...outer] = chain;
  if (!level) return undefined;
  const variable = /^\[variables\('([^']+)'\)\]$/.exec(value);
  if (variable) return defaultValue(level.template.variables?.[variable[1]!], chain);
  const plain = /^\[parameters\('([^']+)'\)\]$/.exec(value);
  const stringified = /^\[string\(parameters\('([^']+)'\)\)\]$/.exec(value);
  const name = plain?.[1] ?? stringified?.[1];
  if (name === undefined) return undefined;
  const passed: unknown = level.deployment?.properties?.parameters?.[name]?.value;
  const resolved =
    passed === undefined ? level.template.parameters?.[name]?.defaultValue : defaultValue(passed, outer);
  return stringified && resolved !== undefined ? String(resolved) : resolved;
}
