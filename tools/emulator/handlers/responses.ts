import type {
  CompactedResponse,
  Response,
  ResponseCreateParamsBase,
  ResponseItem,
  ResponseUsage,
} from 'openai/resources/responses/responses';
import type { InputTokenCountResponse } from 'openai/resources/responses/input-tokens';
import { requireDeployment, type EmulatorState, type Handler, type RequestContext } from '../context';
import { badRequest, notFound, promptFiltered } from '../errors';
import { billOf } from '../billing';
import { filterCompletion, promptHasFilterMarker } from '../content-filter';
import { failMidway, planEvents } from '../events';
import { compactionItem } from '../generators/compaction';
import { viewOf } from '../generators/context';
import { countInputTokens, generate, validateTools } from '../generators/index';
import { queryBool, queryInt, queryList, readJsonObject, sendJson } from '../http';
import { newId } from '../ids';
import { isUserMessage, normalizeInput, type InputDeps } from '../input';
import { isReasoningDeployment } from '../options';
import { buildResponse, renderResponse } from '../response';
import { schedule, type Timing } from '../runner';
import { openEventStream, sseSubscriber } from '../sse';
import type { ResponseRecord } from '../store';
import { validateCreate } from '../validate';

const IMAGE_HEADER = 'x-ms-oai-image-generation-deployment';

function inputDeps(state: EmulatorState): InputDeps {
  return { sealer: state.sealer, findItem: (id) => state.responses.findItem(id) };
}

function findResponse(state: EmulatorState, id: string | undefined): ResponseRecord {
  const record = id ? state.responses.get(id) : undefined;
  if (!record) throw notFound(`Response with id '${id ?? ''}' not found.`, null, 'not_found');
  return record;
}

/** Earlier turns a `previous_response_id` brings in: that response's input items and its output. */
function earlierTurns(state: EmulatorState, previousId: unknown): { items: ResponseItem[]; cached: number } {
  if (previousId === undefined || previousId === null) return { items: [], cached: 0 };
  if (typeof previousId !== 'string')
    throw badRequest("Invalid type for 'previous_response_id'.", 'previous_response_id', 'invalid_type');
  const previous = state.responses.get(previousId);
  if (!previous) {
    throw badRequest(
      `Previous response with id '${previousId}' not found.`,
      'previous_response_id',
      'previous_response_not_found',
    );
  }
  if (previous.snapshot.status === 'queued' || previous.snapshot.status === 'in_progress') {
    throw badRequest(
      `Previous response with id '${previousId}' is still ${previous.snapshot.status}; wait for it to finish.`,
      'previous_response_id',
      'previous_response_in_progress',
    );
  }
  // Prompt caching applies to prefixes of 1024+ tokens, in steps of 128.
  const cached = previous.inputTokens >= 1024 ? Math.floor(previous.inputTokens / 128) * 128 : 0;
  return { items: [...previous.inputItems, ...(previous.snapshot.output as ResponseItem[])], cached };
}

/** Metadata knobs that steer one response deterministically (documented in the README). */
function steering(metadata: unknown): {
  durationMs?: number;
  outcome?: 'failed' | 'incomplete' | 'completed';
} {
  const md = (typeof metadata === 'object' && metadata !== null ? metadata : {}) as Record<string, unknown>;
  const out: { durationMs?: number; outcome?: 'failed' | 'incomplete' | 'completed' } = {};
  const duration = Number(md.emulator_duration_ms);
  if (md.emulator_duration_ms !== undefined && Number.isFinite(duration) && duration >= 0)
    out.durationMs = duration;
  const outcome = md.emulator_outcome;
  if (outcome === 'failed' || outcome === 'incomplete' || outcome === 'completed') out.outcome = outcome;
  return out;
}

function includeOf(value: unknown): Set<string> {
  return new Set(Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
}

const createResponse: Handler = async (ctx) => {
  const { state, req, res } = ctx;
  const body = await readJsonObject(req, state.options.maxBodyBytes);
  const deployment = requireDeployment(state, body.model);
  validateCreate(body, deployment);
  const tools = validateTools(body.tools);
  const request = { ...body, tools } as unknown as ResponseCreateParamsBase;
  const stored = request.store !== false;
  const background = request.background === true;
  const stream = request.stream === true;
  const include = includeOf(request.include);

  if (background && !stored) {
    throw badRequest('Background mode requires store=true.', 'background', 'invalid_value');
  }
  if (tools.some((t) => t.type === 'image_generation')) {
    if (stream) {
      throw badRequest(
        'The image_generation tool does not support streaming in the Azure OpenAI Responses API. Send the request without stream=true, or call the image generation API directly to stream partial images.',
        'stream',
        'unsupported_parameter',
      );
    }
    const header = req.headers[IMAGE_HEADER];
    const imageDeployment = Array.isArray(header) ? header[0] : header;
    if (!imageDeployment) {
      throw badRequest(
        `The image_generation tool needs the '${IMAGE_HEADER}' request header naming an image model deployment (for example ${state.options.imageDeployments[0] ?? 'gpt-image-1'}).`,
        'tools',
        'missing_image_deployment',
      );
    }
    if (!state.options.imageDeployments.includes(imageDeployment)) {
      throw badRequest(
        `The image generation deployment '${imageDeployment}' named by '${IMAGE_HEADER}' does not exist. Known image deployments: ${state.options.imageDeployments.join(', ')}.`,
        'tools',
        'image_deployment_not_found',
      );
    }
  }
  const earlier = earlierTurns(state, request.previous_response_id);
  if ((body.input === undefined || body.input === null) && earlier.items.length === 0) {
    throw badRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  }
  const newItems = normalizeInput(body.input, inputDeps(state));
  const filterFault = state.faults.takeBehaviour('content_filter', ctx.method, ctx.template);
  const forcedPrompt = filterFault !== undefined && filterFault.target !== 'completion';
  if (forcedPrompt || promptHasFilterMarker(newItems, request.instructions)) throw promptFiltered();
  const context = [...earlier.items, ...newItems];
  const id = newId('resp');
  const createdAt = Math.floor(Date.now() / 1000);
  const generation = await generate({
    responseId: id,
    deployment,
    request,
    context,
    newItems,
    files: state.files,
    sealer: state.sealer,
  });

  const steer = steering(request.metadata);
  let output = generation.output;
  let status: NonNullable<Response['status']> = generation.truncated ? 'incomplete' : 'completed';
  let error: Response['error'] = null;
  let incompleteDetails: Response['incomplete_details'] = generation.truncated
    ? { reason: 'max_output_tokens' }
    : null;
  const filtered = filterCompletion(output, filterFault?.target === 'completion');
  if (filtered) {
    output = filtered;
    status = 'incomplete';
    incompleteDetails = { reason: 'content_filter' };
  }
  if (steer.outcome === 'failed') {
    status = 'failed';
    output = [];
    error = {
      code: 'server_error',
      message: 'The emulator was asked to fail this response (metadata emulator_outcome=failed).',
    };
  } else if (steer.outcome === 'incomplete') {
    status = 'incomplete';
    incompleteDetails = { reason: 'max_output_tokens' };
    output = output.map((item) =>
      item.type === 'message'
        ? {
            ...item,
            status: 'incomplete',
            content: item.content.map((c) =>
              c.type === 'output_text' ? { ...c, text: c.text.slice(0, Math.ceil(c.text.length / 2)) } : c,
            ),
          }
        : item,
    );
  }
  const outputTokens = status === 'failed' ? 0 : generation.outputTokens;
  const usage: ResponseUsage = {
    input_tokens: generation.inputTokens,
    input_tokens_details: {
      cached_tokens: Math.min(earlier.cached, generation.inputTokens),
      cache_write_tokens: 0,
    },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: status === 'failed' ? 0 : generation.reasoningTokens },
    total_tokens: generation.inputTokens + outputTokens,
  };
  const final = buildResponse({
    id,
    createdAt,
    deployment,
    request,
    output,
    status,
    usage,
    error,
    incompleteDetails,
    reasoningModel: isReasoningDeployment(deployment),
  });
  const streamError = state.faults.takeBehaviour('stream_error', ctx.method, ctx.template);
  const planned = planEvents(final, background);
  const events = streamError ? failMidway(planned, streamError) : planned;
  let timing: Timing;
  if (background)
    timing = { kind: 'background', durationMs: steer.durationMs ?? state.options.backgroundDurationMs };
  else if (stream)
    timing = {
      kind: 'spaced',
      delayMs:
        steer.durationMs !== undefined
          ? steer.durationMs / (events.length - 1)
          : state.options.streamEventDelayMs,
    };
  else if (steer.durationMs) timing = { kind: 'spaced', delayMs: steer.durationMs / (events.length - 1) };
  else timing = { kind: 'instant' };

  const record: ResponseRecord = {
    id,
    stored,
    stream,
    background,
    snapshot: {
      ...final,
      status: background ? 'queued' : 'in_progress',
      completed_at: null,
      error: null,
      incomplete_details: null,
      output: [],
      output_text: '',
      usage: null as unknown as undefined,
    },
    inputItems: context,
    inputTokens: generation.inputTokens,
    plan: delayAfter(
      schedule(events, timing),
      streamError ? events.findIndex((e) => e.type === 'error') : -1,
      streamError?.delayMs ?? 0,
    ),
    events: [],
    subscribers: new Set(),
    startedAt: Date.now(),
    timer: undefined,
    finished: false,
    stuck: background && state.faults.takeBehaviour('stuck_queued', ctx.method, ctx.template) !== undefined,
    ignoreCancel: false,
    bytes: Number(req.headers['content-length'] ?? 0) + JSON.stringify(final.output).length,
  };
  state.responses.add(record);

  if (stream) {
    const cut = state.faults.takeBehaviour('stream_cut', ctx.method, ctx.template);
    openEventStream(res);
    const subscriber = sseSubscriber(res, include, cut, () => state.runner.detach(record, subscriber));
    res.on('close', () => {
      if (!res.writableEnded) state.streamDisconnects++;
      state.runner.detach(record, subscriber);
      // A foreground stream lives on its connection: once that closes, the service stops generating.
      if (!background) state.runner.abandon(record);
    });
    state.runner.start(record);
    state.runner.attach(record, subscriber);
    return;
  }
  state.runner.start(record);
  if (!background) {
    res.on('close', () => state.runner.abandon(record));
    await state.runner.whenFinished(record);
  }
  sendJson(res, 200, renderResponse(record.snapshot, include));
};

/** Shifts the events from `index` on by `ms` (a stalled upstream before a mid-stream error). */
function delayAfter<T extends { at: number }>(plan: T[], index: number, ms: number): T[] {
  if (index < 0 || ms <= 0) return plan;
  return plan.map((p, i) => (i >= index ? { ...p, at: p.at + ms } : p));
}

const retrieveResponse: Handler = async (ctx) => {
  const { state, url, res } = ctx;
  const record = findResponse(state, ctx.params.id);
  const include = new Set(queryList(url, 'include'));
  if (!queryBool(url, 'stream')) {
    sendJson(res, 200, renderResponse(record.snapshot, include));
    return;
  }
  if (!record.stream) {
    throw badRequest(
      'This response was not created with stream=true, so its events cannot be streamed. Retrieve it without stream=true.',
      'stream',
      'invalid_value',
    );
  }
  if (!record.background) {
    // Only background responses outlive their connection; a foreground stream cannot be resumed.
    throw badRequest(
      'This response was not created with background=true, so its events cannot be streamed again. Only background responses can be resumed with stream=true and starting_after; retrieve it without stream=true.',
      'stream',
      'invalid_value',
    );
  }
  const startingAfter = queryInt(url, 'starting_after', 0, Number.MAX_SAFE_INTEGER, -1);
  const cut = state.faults.takeBehaviour('stream_cut', ctx.method, ctx.template);
  openEventStream(res);
  const subscriber = sseSubscriber(res, include, cut, () => state.runner.detach(record, subscriber));
  res.on('close', () => {
    if (!res.writableEnded) state.streamDisconnects++;
    state.runner.detach(record, subscriber);
  });
  state.runner.attach(record, subscriber, startingAfter);
  return Promise.resolve();
};

const deleteResponse: Handler = (ctx) => {
  const record = findResponse(ctx.state, ctx.params.id);
  ctx.state.runner.stop(record);
  ctx.state.responses.delete(record.id);
  sendJson(ctx.res, 200, { id: record.id, object: 'response.deleted', deleted: true });
  return Promise.resolve();
};

const cancelResponse: Handler = (ctx) => {
  const { state } = ctx;
  const record = findResponse(state, ctx.params.id);
  if (
    record.background &&
    !record.finished &&
    state.faults.takeBehaviour('cancel_then_completed', ctx.method, ctx.template)
  ) {
    record.ignoreCancel = true;
  }
  sendJson(ctx.res, 200, renderResponse(state.runner.cancel(record), new Set()));
  return Promise.resolve();
};

const listInputItems: Handler = (ctx) => {
  const { state, url } = ctx;
  const record = findResponse(state, ctx.params.id);
  const limit = queryInt(url, 'limit', 1, 100, 20);
  const order = url.searchParams.get('order') ?? 'desc';
  if (order !== 'asc' && order !== 'desc') {
    throw badRequest(
      `Invalid value for 'order': expected 'asc' or 'desc', got '${order}'.`,
      'order',
      'invalid_value',
    );
  }
  let items = order === 'asc' ? [...record.inputItems] : [...record.inputItems].reverse();
  const cursor = (name: 'after' | 'before'): number | undefined => {
    const id = url.searchParams.get(name);
    if (!id) return undefined;
    const index = items.findIndex((item) => 'id' in item && item.id === id);
    if (index < 0)
      throw badRequest(
        `Invalid '${name}': no input item with id '${id}' in this response.`,
        name,
        'invalid_value',
      );
    return index;
  };
  const after = cursor('after');
  const before = cursor('before');
  items = items.slice(after === undefined ? 0 : after + 1, before);
  const data = items.slice(0, limit);
  const first = data[0];
  const last = data.at(-1);
  sendJson(ctx.res, 200, {
    object: 'list',
    data,
    first_id: first && 'id' in first ? first.id : null,
    last_id: last && 'id' in last ? last.id : null,
    has_more: items.length > data.length,
  });
  return Promise.resolve();
};

/** Context of a compact / input_tokens request: earlier turns plus `input`, at least one of them. */
function contextOf(
  state: EmulatorState,
  body: Record<string, unknown>,
  requireSome: boolean,
): ResponseItem[] {
  const earlier = earlierTurns(state, body.previous_response_id);
  if (requireSome && earlier.items.length === 0 && (body.input === undefined || body.input === null)) {
    throw badRequest(
      "Either 'input' or 'previous_response_id' is required.",
      'input',
      'missing_required_parameter',
    );
  }
  return [...earlier.items, ...normalizeInput(body.input, inputDeps(state))];
}

const compact: Handler = async (ctx) => {
  const { state } = ctx;
  const body = await readJsonObject(ctx.req, state.options.maxBodyBytes);
  requireDeployment(state, body.model);
  const context = contextOf(state, body, true);
  const inputTokens = await countInputTokens(
    context,
    { instructions: body.instructions as string | undefined },
    state.files,
    state.sealer,
  );
  const view = viewOf(context, state.sealer);
  const item = compactionItem(view, context, state.sealer);
  const outputTokens = Math.ceil(item.encrypted_content.length / 16);
  // As the service: the user's own messages are kept verbatim, everything else folds into the compaction item.
  const kept = view.items.filter(isUserMessage);
  const answer: CompactedResponse = {
    id: newId('resp'),
    object: 'response.compaction',
    created_at: Math.floor(Date.now() / 1000),
    output: [...kept, item] as CompactedResponse['output'],
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0, cache_write_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
  state.billed.set(answer.id, billOf({ ...answer, model: String(body.model) }, 'compaction'));
  sendJson(ctx.res, 200, answer);
};

const inputTokens: Handler = async (ctx) => {
  const { state } = ctx;
  const body = await readJsonObject(ctx.req, state.options.maxBodyBytes);
  if (body.model !== undefined && body.model !== null) requireDeployment(state, body.model);
  const tools = validateTools(body.tools);
  const context = contextOf(state, body, false);
  const count = await countInputTokens(
    context,
    { instructions: body.instructions as string | undefined, tools },
    state.files,
    state.sealer,
  );
  const answer: InputTokenCountResponse = { object: 'response.input_tokens', input_tokens: count };
  sendJson(ctx.res, 200, answer);
};

export const responseRoutes: Array<{ method: string; template: string; handler: Handler }> = [
  { method: 'POST', template: '/responses', handler: createResponse },
  { method: 'POST', template: '/responses/compact', handler: compact },
  { method: 'POST', template: '/responses/input_tokens', handler: inputTokens },
  { method: 'GET', template: '/responses/{id}', handler: retrieveResponse },
  { method: 'DELETE', template: '/responses/{id}', handler: deleteResponse },
  { method: 'POST', template: '/responses/{id}/cancel', handler: cancelResponse },
  { method: 'GET', template: '/responses/{id}/input_items', handler: listInputItems },
];

export type { RequestContext };
