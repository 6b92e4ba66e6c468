import type { Response, ResponseOutputItem, ResponseStreamEvent } from 'openai/resources/responses/responses';
import type { Fault } from './faults';
import type { DistributiveOmit } from './store';

export type UnsequencedEvent = DistributiveOmit<ResponseStreamEvent, 'sequence_number'>;

/** Splits text into word-sized deltas, grouping words so a long text still gives at most ~40 deltas. */
export function chunkText(text: string, maxChunks = 40): string[] {
  const words = text.match(/\S+\s*|\s+/g) ?? [];
  if (words.length === 0) return [];
  const per = Math.max(1, Math.ceil(words.length / maxChunks));
  const out: string[] = [];
  for (let i = 0; i < words.length; i += per) out.push(words.slice(i, i + per).join(''));
  return out;
}

/** The item as `response.output_item.added` shows it: started, nothing generated yet. */
function started(item: ResponseOutputItem): ResponseOutputItem {
  switch (item.type) {
    case 'message':
      return { ...item, status: 'in_progress', content: [] };
    case 'function_call':
      return { ...item, status: 'in_progress', arguments: '' };
    case 'reasoning':
      return { ...item, summary: [] };
    case 'code_interpreter_call':
      return { ...item, status: 'in_progress', code: '', outputs: null };
    case 'mcp_call':
      return { ...item, status: 'in_progress', arguments: '', output: null };
    default:
      return item;
  }
}

function itemEvents(item: ResponseOutputItem, output_index: number): UnsequencedEvent[] {
  const events: UnsequencedEvent[] = [
    { type: 'response.output_item.added', output_index, item: started(item) },
  ];
  const item_id = 'id' in item && item.id ? item.id : '';
  switch (item.type) {
    case 'message':
      item.content.forEach((part, content_index) => {
        if (part.type !== 'output_text') return;
        events.push({
          type: 'response.content_part.added',
          item_id,
          output_index,
          content_index,
          part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
        });
        for (const delta of chunkText(part.text)) {
          events.push({
            type: 'response.output_text.delta',
            item_id,
            output_index,
            content_index,
            delta,
            logprobs: [],
          });
        }
        events.push({
          type: 'response.output_text.done',
          item_id,
          output_index,
          content_index,
          text: part.text,
          logprobs: [],
        });
        events.push({ type: 'response.content_part.done', item_id, output_index, content_index, part });
      });
      break;
    case 'reasoning':
      item.summary.forEach((part, summary_index) => {
        events.push({
          type: 'response.reasoning_summary_part.added',
          item_id,
          output_index,
          summary_index,
          part: { type: 'summary_text', text: '' },
        });
        for (const delta of chunkText(part.text)) {
          events.push({
            type: 'response.reasoning_summary_text.delta',
            item_id,
            output_index,
            summary_index,
            delta,
          });
        }
        events.push({
          type: 'response.reasoning_summary_text.done',
          item_id,
          output_index,
          summary_index,
          text: part.text,
        });
        events.push({
          type: 'response.reasoning_summary_part.done',
          item_id,
          output_index,
          summary_index,
          part,
        });
      });
      break;
    case 'function_call':
      for (const delta of chunkText(item.arguments, 8)) {
        events.push({ type: 'response.function_call_arguments.delta', item_id, output_index, delta });
      }
      events.push({
        type: 'response.function_call_arguments.done',
        item_id,
        output_index,
        name: item.name,
        arguments: item.arguments,
      });
      break;
    case 'code_interpreter_call':
      events.push({ type: 'response.code_interpreter_call.in_progress', item_id, output_index });
      for (const delta of chunkText(item.code ?? '', 8)) {
        events.push({ type: 'response.code_interpreter_call_code.delta', item_id, output_index, delta });
      }
      events.push({
        type: 'response.code_interpreter_call_code.done',
        item_id,
        output_index,
        code: item.code ?? '',
      });
      events.push({ type: 'response.code_interpreter_call.interpreting', item_id, output_index });
      events.push({ type: 'response.code_interpreter_call.completed', item_id, output_index });
      break;
    case 'mcp_list_tools':
      events.push({ type: 'response.mcp_list_tools.in_progress', item_id, output_index });
      events.push({ type: 'response.mcp_list_tools.completed', item_id, output_index });
      break;
    case 'mcp_call':
      events.push({ type: 'response.mcp_call.in_progress', item_id, output_index });
      events.push({
        type: 'response.mcp_call_arguments.delta',
        item_id,
        output_index,
        delta: item.arguments,
      });
      events.push({
        type: 'response.mcp_call_arguments.done',
        item_id,
        output_index,
        arguments: item.arguments,
      });
      events.push({ type: 'response.mcp_call.completed', item_id, output_index });
      break;
    default:
      break;
  }
  events.push({ type: 'response.output_item.done', output_index, item });
  return events;
}

/**
 * The events of a response in the service's order: `response.created` (`response.queued` in background),
 * `response.in_progress`, each output item's events, then `response.completed|failed|incomplete`.
 */
export function planEvents(final: Response, background: boolean): UnsequencedEvent[] {
  const base: Response = {
    ...final,
    status: background ? 'queued' : 'in_progress',
    completed_at: null,
    error: null,
    incomplete_details: null,
    output: [],
    output_text: '',
    // The service sends `usage: null` until the response ends.
    usage: null as unknown as undefined,
  };
  const events: UnsequencedEvent[] = [{ type: 'response.created', response: base }];
  if (background) events.push({ type: 'response.queued', response: base });
  events.push({ type: 'response.in_progress', response: { ...base, status: 'in_progress' } });
  final.output.forEach((item, index) => events.push(...itemEvents(item, index)));
  if (final.status === 'failed') events.push({ type: 'response.failed', response: final });
  else if (final.status === 'incomplete') events.push({ type: 'response.incomplete', response: final });
  else events.push({ type: 'response.completed', response: final });
  return events;
}

export const TERMINAL_EVENTS: ReadonlySet<string> = new Set([
  'response.completed',
  'response.failed',
  'response.incomplete',
]);

/** `response.failed` error codes the schema allows; an `error` event's other codes fail the response as these. */
const RESPONSE_ERROR_CODES: ReadonlySet<string> = new Set(['server_error', 'rate_limit_exceeded']);

export function responseErrorCode(code: string | null): NonNullable<Response['error']>['code'] {
  return (code && RESPONSE_ERROR_CODES.has(code) ? code : 'server_error') as NonNullable<
    Response['error']
  >['code'];
}

const STREAM_ERROR_MESSAGES: Record<string, string> = {
  server_error:
    'The server had an error processing your request. Sorry about that! You can retry your request, or contact us through an Azure support request at: https://go.microsoft.com/fwlink/?linkid=2213926 if you keep seeing this error.',
  rate_limit_exceeded:
    'Requests to the Responses API under Azure OpenAI API version v1 have exceeded the rate limit of your current pricing tier. Please retry after 1 second.',
  timeout: 'The request timed out while the model was generating. Please try again.',
};

/**
 * A `stream_error` fault: the first `afterEvents` events (never the terminal one), then an `error` event and
 * (unless `terminal: false`) `response.failed` carrying the output items finished so far. Partial text sent
 * before the cut stays sent.
 */
export function failMidway(events: UnsequencedEvent[], fault: Fault): UnsequencedEvent[] {
  const keep = Math.max(1, Math.min(fault.afterEvents ?? 3, events.length - 1));
  const kept = events.slice(0, keep);
  const final = events.at(-1);
  if (!final || !('response' in final)) return events;
  const code = fault.code ?? 'server_error';
  const message = fault.message ?? STREAM_ERROR_MESSAGES[code] ?? `The model stream failed (${code}).`;
  const done = kept.flatMap((e) => (e.type === 'response.output_item.done' ? [e.item] : []));
  const failed: Response = {
    ...final.response,
    status: 'failed',
    completed_at: null,
    incomplete_details: null,
    output: done,
    error: { code: responseErrorCode(code), message },
  };
  const error: UnsequencedEvent = { type: 'error', code, message, param: null };
  // `terminal: false`: the stream ends on the error event alone, as the service's streams sometimes do.
  if (fault.terminal === false) return [...kept, error];
  return [...kept, error, { type: 'response.failed', response: failed }];
}
