import type {
  ResponseCodeInterpreterToolCall,
  ResponseItem,
  Tool,
} from 'openai/resources/responses/responses';
import { badRequest } from '../errors';
import { newId } from '../ids';
import type { FileStore } from '../store';

/** Solves `ax + b = c` when the text holds one, so math prompts get a real answer. */
function solveLinear(text: string): { code: string; answer: string } | undefined {
  const m = /(-?\d*)\s*([a-z])\s*([+-])\s*(\d+(?:\.\d+)?)\s*=\s*(-?\d+(?:\.\d+)?)/i.exec(text);
  if (!m) return undefined;
  const a = m[1] === '' ? 1 : m[1] === '-' ? -1 : Number(m[1]);
  const b = Number(m[4]) * (m[3] === '-' ? -1 : 1);
  const c = Number(m[5]);
  if (!a) return undefined;
  const v = m[2] ?? 'x';
  const value = Math.round(((c - b) / a) * 1e6) / 1e6;
  return { code: `${v} = (${c} - (${b})) / ${a}\nprint(f"${v} = {${v}:g}")`, answer: `${v} = ${value}` };
}

export interface CodeInterpreterRun {
  item: ResponseCodeInterpreterToolCall;
  sentence: string;
}

/**
 * One emulated Python run. The container is the one named by the tool, else the one of an earlier
 * `code_interpreter_call` in the context (as the service reuses active containers), else a new one.
 * `file_ids` must name uploaded files.
 */
export function codeInterpreterRun(
  tool: Tool.CodeInterpreter,
  text: string,
  context: ResponseItem[],
  files: FileStore,
  includeOutputs: boolean,
): CodeInterpreterRun {
  let containerId: string | undefined;
  let fileNames: string[] = [];
  if (typeof tool.container === 'string') {
    containerId = tool.container;
  } else {
    const fileIds = tool.container?.file_ids ?? [];
    fileNames = fileIds.map((id) => {
      const file = files.get(id);
      if (!file)
        throw badRequest(`No file found with id '${id}'.`, 'tools[].container.file_ids', 'file_not_found');
      return file.object.filename;
    });
    const earlier = [...context].reverse().find((item) => item.type === 'code_interpreter_call');
    if (earlier?.type === 'code_interpreter_call' && fileIds.length === 0) containerId = earlier.container_id;
  }
  containerId ??= newId('cntr');

  const words = text.split(/\s+/).filter(Boolean).length;
  const solution = solveLinear(text);
  const logs = `${text.length} characters, ${words} words` + (solution ? `\n${solution.answer}` : '');
  const code = [
    `text = ${JSON.stringify(text)}`,
    ...(fileNames.length ? [`files = ${JSON.stringify(fileNames.map((f) => `/mnt/data/${f}`))}`] : []),
    'print(f"{len(text)} characters, {len(text.split())} words")',
    ...(solution ? [solution.code] : []),
  ].join('\n');
  const item: ResponseCodeInterpreterToolCall = {
    id: newId('ci'),
    type: 'code_interpreter_call',
    status: 'completed',
    container_id: containerId,
    code,
    outputs: includeOutputs ? [{ type: 'logs', logs }] : null,
  };
  const filesNote = fileNames.length
    ? ` with ${fileNames.length} file${fileNames.length === 1 ? '' : 's'} (${fileNames.join(', ')})`
    : '';
  return {
    item,
    sentence: `I ran Python in container ${containerId}${filesNote}; it printed: ${logs.replace(/\n/g, '; ')}.`,
  };
}
