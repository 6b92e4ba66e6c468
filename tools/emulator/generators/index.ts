import type {
  ResponseCreateParamsBase,
  ResponseFunctionToolCallOutputItem,
  ResponseItem,
  ResponseOutputItem,
  ResponseOutputMessage,
  Tool,
} from 'openai/resources/responses/responses';
import { badRequest } from '../errors';
import { newId } from '../ids';
import { isUserMessage } from '../input';
import { isReasoningDeployment } from '../options';
import { leadSentences } from '../pdf';
import type { Sealer } from '../sealed';
import type { FileStore } from '../store';
import { tokensOfItems, tokensOfText } from '../tokens';
import { codeInterpreterRun } from './code-interpreter';
import { compactionItem } from './compaction';
import { describeImages, resolveFiles, viewOf, type ConversationView, type ResolvedFile } from './context';
import { answerFunctionOutputs, functionCall } from './function-call';
import { imageCall } from './image';
import { answerApprovals, mcpTurn } from './mcp';
import { reasoningItem, reasoningTokens } from './reasoning';
import { instanceOf } from './structured';

/** Tool types the emulator can play; any other is refused with a clear 400. */
export const SUPPORTED_TOOLS: ReadonlySet<string> = new Set([
  'function',
  'code_interpreter',
  'mcp',
  'image_generation',
]);

export interface GenerationInput {
  responseId: string;
  deployment: string;
  request: ResponseCreateParamsBase;
  /** Every item the model sees: earlier turns (via `previous_response_id`) then this request's input. */
  context: ResponseItem[];
  /** This request's own input items. */
  newItems: ResponseItem[];
  files: FileStore;
  sealer: Sealer;
}

export interface Generation {
  output: ResponseOutputItem[];
  inputTokens: number;
  outputTokens: number;
  reasoningTokens: number;
  /** `max_output_tokens` cut the answer short. */
  truncated: boolean;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The sentences every plain answer is made of: proof of what the emulated model read. */
function understanding(view: ConversationView, files: ResolvedFile[], images: string[]): string[] {
  const out: string[] = [];
  if (view.lastUserText) out.push(`You said: "${view.lastUserText}".`);
  if (view.earlierTurns > 0) {
    out.push(
      `I can see ${plural(view.earlierTurns, 'earlier turn')} in this conversation; the first thing you said was: "${view.firstUserText ?? ''}".`,
    );
  }
  if (view.carriedReasoning > 0)
    out.push(`I carried forward ${plural(view.carriedReasoning, 'encrypted reasoning item')}.`);
  if (images.length > 0) out.push(`I received ${plural(images.length, 'image')}: ${images.join('; ')}.`);
  for (const file of files) {
    out.push(
      `Summary of ${file.filename} (${plural(file.pages, 'page')}): ${leadSentences(file.text) || '(no text found)'}`,
    );
  }
  return out;
}

/** The tool the emulated model uses: the one `tool_choice` names, else the first declared. */
function chooseTool(tools: Tool[], choice: ResponseCreateParamsBase['tool_choice']): Tool | undefined {
  if (choice === 'none' || tools.length === 0) return undefined;
  if (typeof choice === 'object' && choice !== null) {
    if (choice.type === 'function') return tools.find((t) => t.type === 'function' && t.name === choice.name);
    if ('server_label' in choice) {
      const label = choice.server_label;
      return tools.find((t) => t.type === 'mcp' && t.server_label === label);
    }
    if (choice.type === 'allowed_tools') return undefined;
    return tools.find((t) => t.type === choice.type);
  }
  return tools[0];
}

function message(text: string): ResponseOutputMessage {
  return {
    id: newId('msg'),
    type: 'message',
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

export function validateTools(tools: unknown): Tool[] {
  if (tools === undefined || tools === null) return [];
  if (!Array.isArray(tools)) throw badRequest("Invalid 'tools': expected an array.", 'tools');
  tools.forEach((tool: unknown, i) => {
    const type = typeof tool === 'object' && tool !== null ? (tool as { type?: unknown }).type : undefined;
    if (typeof type !== 'string' || !SUPPORTED_TOOLS.has(type)) {
      throw badRequest(
        `The emulator does not support tools of type '${String(type)}'. Supported: ${[...SUPPORTED_TOOLS].join(', ')}.`,
        `tools[${i}].type`,
        'unsupported_tool',
      );
    }
    if (type === 'function' && typeof (tool as { name?: unknown }).name !== 'string') {
      throw badRequest(
        `Missing required parameter: 'tools[${i}].name'.`,
        `tools[${i}].name`,
        'missing_required_parameter',
      );
    }
    if (type === 'mcp' && typeof (tool as { server_label?: unknown }).server_label !== 'string') {
      throw badRequest(
        `Missing required parameter: 'tools[${i}].server_label'.`,
        `tools[${i}].server_label`,
        'missing_required_parameter',
      );
    }
  });
  return tools as Tool[];
}

/** Input tokens of a request as the service would bill them (context, instructions, tool definitions). */
export async function countInputTokens(
  context: ResponseItem[],
  request: Pick<ResponseCreateParamsBase, 'instructions' | 'tools'>,
  files: FileStore,
  sealer: Sealer,
): Promise<number> {
  const view = viewOf(context, sealer);
  const { tokens } = await resolveFiles(view.items, files);
  const instructions = typeof request.instructions === 'string' ? request.instructions : '';
  return (
    tokensOfItems(view.items, tokens) +
    tokensOfText(instructions) +
    (request.tools?.length ? tokensOfText(JSON.stringify(request.tools)) : 0)
  );
}

/** Decides the output of one turn, deterministically, from what the request carries. */
export async function generate(g: GenerationInput): Promise<Generation> {
  const { request, sealer } = g;
  const tools = request.tools ?? [];
  const view = viewOf(g.context, sealer);
  const { files: resolved, tokens: fileTokens } = await resolveFiles(view.items, g.files);
  const instructions = typeof request.instructions === 'string' ? request.instructions : '';
  const inputTokens =
    tokensOfItems(view.items, fileTokens) +
    tokensOfText(instructions) +
    (tools.length ? tokensOfText(JSON.stringify(tools)) : 0);

  const output: ResponseOutputItem[] = [];
  const threshold = request.context_management?.find((c) => c.type === 'compaction')?.compact_threshold;
  if (typeof threshold === 'number' && inputTokens >= threshold) {
    output.push(compactionItem(view, g.context, sealer));
  }

  const reasoning = isReasoningDeployment(g.deployment);
  let spentReasoning = 0;
  if (reasoning) {
    output.push(reasoningItem(g.responseId, view.lastUserText, request.reasoning, true, sealer));
    spentReasoning = reasoningTokens(view.lastUserText, request.reasoning);
  }

  const sentences: string[] = [];
  let answer = true;
  const functionOutputs = g.newItems.filter(
    (i): i is ResponseFunctionToolCallOutputItem => i.type === 'function_call_output',
  );
  const approvals = g.newItems.filter(
    (i): i is ResponseItem.McpApprovalResponse => i.type === 'mcp_approval_response',
  );

  if (functionOutputs.length > 0 || approvals.length > 0) {
    if (functionOutputs.length > 0) sentences.push(answerFunctionOutputs(functionOutputs, g.context));
    if (approvals.length > 0) {
      const answered = answerApprovals(approvals, g.context, tools);
      output.push(...answered.items);
      sentences.push(...answered.sentences);
    }
  } else {
    const lastUser = [...view.items].reverse().find(isUserMessage);
    const current = lastUser ? [lastUser] : [];
    const currentFiles = resolved.filter((f) => lastUser?.content.includes(f.part));
    sentences.push(...understanding(view, currentFiles, describeImages(current)));
    const tool = chooseTool(tools, request.tool_choice);
    switch (tool?.type) {
      case 'function':
        output.push(functionCall(tool, view.lastUserText));
        answer = false;
        break;
      case 'mcp': {
        const items = mcpTurn(tool, view.lastUserText, g.context);
        output.push(...items);
        const call = items.find((i) => i.type === 'mcp_call');
        if (call?.type === 'mcp_call')
          sentences.push(`The MCP server ${call.server_label} answered: ${call.output ?? ''}`);
        else answer = false;
        break;
      }
      case 'code_interpreter': {
        const run = codeInterpreterRun(tool, view.lastUserText, g.context, g.files, true);
        output.push(run.item);
        sentences.push(run.sentence);
        break;
      }
      case 'image_generation':
        output.push(imageCall(tool, view.lastUserText || 'an abstract image'));
        sentences.push(`Here is the image you asked for: "${view.lastUserText}".`);
        break;
      default:
        break;
    }
  }

  let truncated = false;
  if (answer) {
    let text = sentences.join(' ') || 'Hello! How can I help you today?';
    const format = request.text?.format;
    if (format?.type === 'json_schema') text = JSON.stringify(instanceOf(format.schema, view.lastUserText));
    else if (format?.type === 'json_object') text = JSON.stringify({ answer: text });
    const budget = request.max_output_tokens;
    if (typeof budget === 'number' && spentReasoning + tokensOfText(text) > budget) {
      text = text.slice(0, Math.max(0, budget - spentReasoning) * 4);
      truncated = true;
    }
    output.push({ ...message(text), status: truncated ? 'incomplete' : 'completed' });
  }

  const outputTokens =
    spentReasoning +
    output.reduce((sum, item) => {
      if (item.type === 'message')
        return (
          sum +
          tokensOfText(item.content.map((c) => (c.type === 'output_text' ? c.text : c.refusal)).join(''))
        );
      if (item.type === 'image_generation_call' || item.type === 'reasoning' || item.type === 'compaction')
        return sum;
      return sum + tokensOfText(JSON.stringify(item));
    }, 0);
  return { output, inputTokens, outputTokens, reasoningTokens: spentReasoning, truncated };
}
