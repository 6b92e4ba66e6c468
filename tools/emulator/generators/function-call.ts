import type {
  FunctionTool,
  ResponseFunctionToolCall,
  ResponseFunctionToolCallOutputItem,
  ResponseItem,
} from 'openai/resources/responses/responses';
import { badRequest } from '../errors';
import { newId } from '../ids';

interface JsonSchemaLike {
  type?: string | string[];
  enum?: unknown[];
  properties?: Record<string, JsonSchemaLike>;
  required?: string[];
}

/** A place named after "in"/"at"/"for" in the text, e.g. "What is the weather in San Francisco?" → "San Francisco". */
function placeIn(text: string): string | undefined {
  return /\b(?:in|at|for|near)\s+([A-Z][\p{L}'.-]*(?:\s+[A-Z][\p{L}'.-]*)*)/u
    .exec(text)?.[1]
    ?.replace(/[.'-]+$/, '');
}

function valueFor(name: string, schema: JsonSchemaLike, text: string): unknown {
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== 'null') : schema.type;
  switch (type) {
    case 'number':
    case 'integer': {
      const n = /-?\d+(?:\.\d+)?/.exec(text)?.[0];
      return n === undefined ? 1 : type === 'integer' ? Math.trunc(Number(n)) : Number(n);
    }
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return argumentsFor(schema, text);
    default:
      if (/location|city|place|where|destination|town|country/i.test(name)) return placeIn(text) ?? text;
      return text;
  }
}

/** Arguments that satisfy the function's JSON schema, filled from the user's words. */
export function argumentsFor(
  schema: JsonSchemaLike | null | undefined,
  text: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema?.properties ?? {})) {
    out[name] = valueFor(name, prop, text);
  }
  return out;
}

export function functionCall(tool: FunctionTool, text: string): ResponseFunctionToolCall {
  return {
    id: newId('fc'),
    type: 'function_call',
    status: 'completed',
    call_id: newId('call'),
    name: tool.name,
    arguments: JSON.stringify(argumentsFor(tool.parameters, text)),
  };
}

function outputText(output: ResponseFunctionToolCallOutputItem['output']): string {
  if (typeof output === 'string') return output;
  return output.map((part) => ('text' in part ? part.text : `[${part.type}]`)).join(' ');
}

/**
 * Sentences answering the `function_call_output` items of this turn, each matched to its call in the context.
 * An output whose call is nowhere in the context is the service's 400.
 */
export function answerFunctionOutputs(
  outputs: ResponseFunctionToolCallOutputItem[],
  context: ResponseItem[],
): string {
  return outputs
    .map((output) => {
      const call = context.find((item) => item.type === 'function_call' && item.call_id === output.call_id);
      if (!call || call.type !== 'function_call') {
        throw badRequest(
          `No tool call found for function call output with call_id ${output.call_id}.`,
          'input',
          null,
        );
      }
      return `The function ${call.name} returned: ${outputText(output.output)}`;
    })
    .join('\n');
}
