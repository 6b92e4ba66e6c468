/**
 * The vendored OpenAI Responses API schemas (schemas/README.md), compiled with Ajv. Compiling the bundle takes
 * a second or two, so it happens once per process, when the first emulator starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

const BUNDLE_ID = 'urn:openai-openapi:2.3.0:responses-bundle';

/** The folder with the schema files: beside this module in the sources, or in the sources from dist/. */
export function schemaDir(): string {
  const candidates = [
    join(__dirname, 'schemas'),
    join(__dirname, '..', '..', '..', 'tools', 'emulator', 'schemas'),
  ];
  const found = candidates.find((dir) => existsSync(join(dir, 'responses.schema.json')));
  if (!found)
    throw new Error(`The emulator's schema files were not found (looked in ${candidates.join(', ')}).`);
  return found;
}

export type SchemaFlavour = 'strict' | 'lenient';

/**
 * Where the spec refuses what the service accepts, request validation follows the service:
 * - a `required` name that is not one of the schema's properties is a spec slip (MCPApprovalResponse lists
 *   `request_id`, which no client sends); such names are dropped everywhere;
 * - FunctionTool requires `strict` and `parameters`, yet the how-to's function tools send neither `strict` nor
 *   (for parameterless functions) `parameters`; the service defaults them and echoes them back.
 */
const NOT_REQUIRED_IN_REQUESTS: Record<string, string[]> = { FunctionTool: ['strict', 'parameters'] };

function applyFixes(defs: Record<string, unknown>): void {
  for (const [name, def] of Object.entries(defs)) {
    const schema = def as { required?: string[]; properties?: Record<string, unknown> } | undefined;
    if (!schema?.required || !schema.properties) continue;
    const relaxed = NOT_REQUIRED_IN_REQUESTS[name] ?? [];
    schema.required = schema.required.filter((r) => r in schema.properties! && !relaxed.includes(r));
  }
}

const ajvs = new Map<SchemaFlavour, Ajv2020>();
const bundles = new Map<SchemaFlavour, { $defs: Record<string, unknown> }>();
const validators = new Map<string, ValidateFunction>();

function ajvFor(flavour: SchemaFlavour): Ajv2020 {
  let ajv = ajvs.get(flavour);
  if (!ajv) {
    // verbose: errors carry their schema, so a range error can say "integer" or "decimal" as the service does.
    ajv = new Ajv2020({ strict: false, allErrors: false, verbose: true });
    addFormats(ajv);
    ajv.addFormat('unixtime', true);
    const file = flavour === 'strict' ? 'responses.schema.json' : 'responses-lenient.schema.json';
    const bundle = JSON.parse(readFileSync(join(schemaDir(), file), 'utf8')) as {
      $defs: Record<string, unknown>;
    };
    if (flavour === 'lenient') applyFixes(bundle.$defs);
    bundles.set(flavour, bundle);
    ajv.addSchema(bundle);
    ajvs.set(flavour, ajv);
  }
  return ajv;
}

/** The validator of `#/$defs/<name>` in the strict or lenient bundle, compiled once. */
export function validatorFor(name: string, flavour: SchemaFlavour): ValidateFunction {
  const key = `${flavour}:${name}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajvFor(flavour).getSchema(`${BUNDLE_ID}#/$defs/${name}`);
    if (!validate) throw new Error(`No schema named ${name} in the ${flavour} bundle.`);
    validators.set(key, validate);
  }
  return validate;
}

/** The raw `$defs` entry of a schema (for the property names of CreateResponse). */
export function schemaDefs(flavour: SchemaFlavour): Record<string, unknown> {
  ajvFor(flavour);
  return bundles.get(flavour)?.$defs ?? {};
}
