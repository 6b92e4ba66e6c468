import type { EmulatorState, Handler } from '../context';
import { badRequest } from '../errors';
import { parseFault } from '../faults';
import { readJsonObject, sendJson } from '../http';

/** Counters and live sizes, as `GET /_emulator/stats` answers them. */
export function statsOf(state: EmulatorState) {
  return {
    requests: Object.fromEntries([...state.requests].sort(([a], [b]) => a.localeCompare(b))),
    responses: state.responses.size,
    running: state.responses.running,
    files: state.files.size,
    fileBytes: state.files.bytes,
    faults: state.faults.list().length,
    streamDisconnects: state.streamDisconnects,
  };
}

const addFault: Handler = async (ctx) => {
  const body = await readJsonObject(ctx.req, 64 * 1024);
  const fault = ctx.state.faults.add(parseFault(body));
  sendJson(ctx.res, 201, fault);
};

const listFaults: Handler = (ctx) => {
  sendJson(ctx.res, 200, { faults: ctx.state.faults.list() });
  return Promise.resolve();
};

const clearFaults: Handler = (ctx) => {
  ctx.state.faults.clear();
  sendJson(ctx.res, 200, { faults: [] });
  return Promise.resolve();
};

const getStats: Handler = (ctx) => {
  sendJson(ctx.res, 200, statsOf(ctx.state));
  return Promise.resolve();
};

function logFilter(url: URL) {
  const since = url.searchParams.get('since');
  const get = (name: string) => url.searchParams.get(name) ?? undefined;
  return {
    namespace: get('namespace'),
    method: get('method'),
    route: get('route'),
    since: since === null || since === '' ? undefined : Number(since),
  };
}

/** `GET /_emulator/requests?namespace=&method=&route=&since=`: the logged requests, oldest first. */
const listRequests: Handler = (ctx) => {
  const filter = logFilter(ctx.url);
  if (filter.since !== undefined && !Number.isInteger(filter.since)) {
    throw badRequest("'since' must be an integer (a `seq` of the log).", 'since', 'invalid_value');
  }
  sendJson(ctx.res, 200, { requests: ctx.state.log.list(filter) });
  return Promise.resolve();
};

/** `DELETE /_emulator/requests?namespace=`: forgets a namespace's requests (all without one). */
const clearRequests: Handler = (ctx) => {
  const dropped = ctx.state.log.clear(ctx.url.searchParams.get('namespace') ?? undefined);
  sendJson(ctx.res, 200, { dropped });
  return Promise.resolve();
};

/** `GET /_emulator/webhooks`: every webhook delivery attempt, oldest first. */
const listWebhooks: Handler = (ctx) => {
  sendJson(ctx.res, 200, { enabled: ctx.state.webhooks.enabled, deliveries: ctx.state.webhooks.list() });
  return Promise.resolve();
};

/**
 * `POST /_emulator/webhooks/send` `{response_id, type, webhook_id?, secret?, timestamp_offset_s?, copies?}`:
 * delivers that event now (no retries) and answers each attempt's status. Tests use it for storms: duplicates,
 * events out of order or for unknown responses, forged signatures, stale timestamps.
 */
const sendWebhook: Handler = async (ctx) => {
  const body = await readJsonObject(ctx.req, 64 * 1024);
  const text = (name: string, required = false): string | undefined => {
    const value = body[name];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'string' || !value) throw badRequest(`'${name}' must be a non-empty string.`, name);
    return value;
  };
  const number = (name: string): number | undefined => {
    const value = body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      throw badRequest(`'${name}' must be an integer.`, name);
    }
    return value;
  };
  if (!ctx.state.options.webhookUrl) {
    throw badRequest('The emulator was started without --webhook-url.', null, 'webhooks_off');
  }
  const deliveries = await ctx.state.webhooks.send({
    responseId: text('response_id', true)!,
    type: text('type', true)!,
    webhookId: text('webhook_id'),
    secret: text('secret'),
    timestampOffsetSeconds: number('timestamp_offset_s'),
    copies: number('copies'),
  });
  sendJson(ctx.res, 200, { deliveries });
};

const resetStats: Handler = (ctx) => {
  ctx.state.requests.clear();
  ctx.state.streamDisconnects = 0;
  sendJson(ctx.res, 200, statsOf(ctx.state));
  return Promise.resolve();
};

/**
 * `GET /_emulator/usage[?safety_identifier=]`: what each response and compaction was billed once it stopped
 * (tools/emulator/billing.ts), with totals. Responses still running are not in it yet.
 */
const getUsage: Handler = (ctx) => {
  const only = ctx.url.searchParams.get('safety_identifier');
  const responses = [...ctx.state.billed.values()].filter(
    (b) => only === null || b.safety_identifier === only,
  );
  const totals = { responses: 0, input_tokens: 0, cached_tokens: 0, output_tokens: 0, reasoning_tokens: 0 };
  for (const b of responses) {
    totals.responses++;
    totals.input_tokens += b.input_tokens;
    totals.cached_tokens += b.cached_tokens;
    totals.output_tokens += b.output_tokens;
    totals.reasoning_tokens += b.reasoning_tokens;
  }
  sendJson(ctx.res, 200, { responses, totals });
  return Promise.resolve();
};

export const controlRoutes: Array<{ method: string; template: string; handler: Handler }> = [
  { method: 'POST', template: '/faults', handler: addFault },
  { method: 'GET', template: '/faults', handler: listFaults },
  { method: 'DELETE', template: '/faults', handler: clearFaults },
  { method: 'GET', template: '/stats', handler: getStats },
  { method: 'GET', template: '/usage', handler: getUsage },
  { method: 'POST', template: '/stats/reset', handler: resetStats },
  { method: 'GET', template: '/requests', handler: listRequests },
  { method: 'DELETE', template: '/requests', handler: clearRequests },
  { method: 'GET', template: '/webhooks', handler: listWebhooks },
  { method: 'POST', template: '/webhooks/send', handler: sendWebhook },
];
