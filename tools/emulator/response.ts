import type {
  Response,
  ResponseCreateParamsBase,
  ResponseItem,
  ResponseOutputItem,
  ResponseStreamEvent,
  ResponseUsage,
  Tool,
} from 'openai/resources/responses/responses';

/** The concatenated `output_text` parts of the output's assistant messages (Azure returns it too). */
export function outputTextOf(output: ResponseOutputItem[]): string {
  const parts: string[] = [];
  for (const item of output) {
    if (item.type !== 'message') continue;
    for (const part of item.content) if (part.type === 'output_text') parts.push(part.text);
  }
  return parts.join('');
}

/** Tools as the response echoes them: defaults filled in (function `strict`), MCP credentials never sent back. */
export function redactTools(tools: Tool[]): Tool[] {
  return tools.map((tool) => {
    if (tool.type === 'function') {
      return {
        ...tool,
        description: tool.description ?? null,
        parameters: tool.parameters ?? null,
        strict: tool.strict ?? true,
      };
    }
    if (tool.type !== 'mcp') return tool;
    const copy: Tool.Mcp = { ...tool };
    if (copy.headers) copy.headers = null;
    if (copy.authorization) copy.authorization = '<redacted>';
    return copy;
  });
}

export interface BuildArgs {
  id: string;
  createdAt: number;
  deployment: string;
  request: ResponseCreateParamsBase;
  output: ResponseOutputItem[];
  status: NonNullable<Response['status']>;
  usage: ResponseUsage | undefined;
  error?: Response['error'];
  incompleteDetails?: Response['incomplete_details'];
  reasoningModel: boolean;
}

/** A full Response object, every field the schema requires set the way the service sets it. */
export function buildResponse(a: BuildArgs): Response {
  const r = a.request;
  // `store` is on the wire (the schema requires it) though the SDK's Response type leaves it out.
  const response: Response & { store: boolean } = {
    id: a.id,
    object: 'response',
    created_at: a.createdAt,
    status: a.status,
    background: r.background ?? false,
    completed_at: a.status === 'completed' ? Math.floor(Date.now() / 1000) : null,
    error: a.error ?? null,
    incomplete_details: a.incompleteDetails ?? null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    metadata: r.metadata ?? {},
    model: a.deployment,
    output: a.output,
    output_text: outputTextOf(a.output),
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: r.previous_response_id ?? null,
    prompt_cache_key: r.prompt_cache_key ?? null,
    reasoning: a.reasoningModel
      ? { effort: r.reasoning?.effort ?? 'medium', summary: r.reasoning?.summary ?? null }
      : { effort: null, summary: null },
    safety_identifier: r.safety_identifier ?? null,
    service_tier: 'default',
    store: r.store ?? true,
    temperature: r.temperature ?? 1,
    text: r.text ?? { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: r.tool_choice ?? 'auto',
    tools: redactTools(r.tools ?? []),
    top_logprobs: r.top_logprobs ?? 0,
    top_p: r.top_p ?? 1,
    truncation: r.truncation ?? 'disabled',
    usage: a.usage,
    ...(r.user ? { user: r.user } : {}),
  };
  return response;
}

/** Drops what the request's `include` did not ask for (encrypted reasoning, code interpreter outputs). */
export function renderItem<T extends ResponseOutputItem | ResponseItem>(
  item: T,
  include: ReadonlySet<string>,
): T {
  if (item.type === 'reasoning' && !include.has('reasoning.encrypted_content') && item.encrypted_content) {
    return { ...item, encrypted_content: null };
  }
  if (
    item.type === 'code_interpreter_call' &&
    !include.has('code_interpreter_call.outputs') &&
    item.outputs
  ) {
    return { ...item, outputs: null };
  }
  return item;
}

/**
 * A Response as it goes on the wire: `output_text` is an SDK convenience computed client-side, never sent;
 * `usage` is null until the response ends.
 */
export function renderResponse(response: Response, include: ReadonlySet<string>): Response {
  const { output_text: _omitted, ...wire } = response;
  return {
    ...wire,
    usage: response.usage ?? (null as unknown as undefined),
    output: response.output.map((item) => renderItem(item, include)),
  } as Response;
}

export function renderEvent(event: ResponseStreamEvent, include: ReadonlySet<string>): ResponseStreamEvent {
  if ('response' in event) return { ...event, response: renderResponse(event.response, include) };
  if (event.type === 'response.output_item.added' || event.type === 'response.output_item.done') {
    return { ...event, item: renderItem(event.item, include) };
  }
  return event;
}
