import { badRequest } from './errors';

export const FAULT_KINDS = [
  '429',
  '500',
  '503',
  '408',
  '504',
  'latency',
  'stream_cut',
  'stuck_queued',
  'cancel_then_completed',
  'stream_error',
  'content_filter',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** A fault as `POST /_emulator/faults` accepts it. */
export interface FaultSpec {
  kind: FaultKind;
  /** Requests it hits before it expires; absent = until `DELETE /_emulator/faults`. */
  count?: number;
  /** Only requests on this route template (`/responses`, `/responses/{id}`, ...) or `METHOD /template`. */
  route?: string;
  method?: string;
  /** 429: value of `retry-after-ms` (and `retry-after`, rounded up to seconds). Default 1000. */
  retryAfterMs?: number;
  /** latency: ms added. Default 1000. */
  latencyMs?: number;
  /** stream_cut: events delivered before the connection closes. Default 3. */
  afterEvents?: number;
  /** stream_cut: drop the socket abruptly instead of ending the body cleanly. Default false. */
  abort?: boolean;
  /** stream_error: the `error` event's code. Default `server_error`. */
  code?: string;
  /** stream_error: the `error` event's message. */
  message?: string;
  /** stream_error: silence before the `error` event, as a stalled upstream. Default 0. */
  delayMs?: number;
  /** stream_error: `false` ends the stream on the `error` event, with no `response.failed`. Default true. */
  terminal?: boolean;
  /** content_filter: filter the prompt (400) or the completion (incomplete). Default `prompt`. */
  target?: 'prompt' | 'completion';
}

export interface Fault extends FaultSpec {
  id: number;
  hits: number;
}

/** Kinds that act on the HTTP answer itself; the others change what a matching request does. */
const HTTP_KINDS: ReadonlySet<FaultKind> = new Set(['429', '500', '503', '408', '504', 'latency']);

function asOptionalNumber(body: Record<string, unknown>, name: string, min: number): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw badRequest(`'${name}' must be a number >= ${min}.`, name, 'invalid_value');
  }
  return value;
}

export function parseFault(body: Record<string, unknown>): FaultSpec {
  const kind = typeof body.kind === 'string' || typeof body.kind === 'number' ? String(body.kind) : '';
  if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
    throw badRequest(
      `'kind' must be one of ${FAULT_KINDS.join(', ')}; got '${kind}'.`,
      'kind',
      'invalid_value',
    );
  }
  const spec: FaultSpec = { kind: kind as FaultKind };
  const count = asOptionalNumber(body, 'count', 1);
  if (count !== undefined) spec.count = Math.floor(count);
  if (typeof body.route === 'string') spec.route = body.route;
  if (typeof body.method === 'string') spec.method = body.method.toUpperCase();
  const retryAfterMs = asOptionalNumber(body, 'retryAfterMs', 0);
  if (retryAfterMs !== undefined) spec.retryAfterMs = retryAfterMs;
  const latencyMs = asOptionalNumber(body, 'latencyMs', 0);
  if (latencyMs !== undefined) spec.latencyMs = latencyMs;
  const afterEvents = asOptionalNumber(body, 'afterEvents', 0);
  if (afterEvents !== undefined) spec.afterEvents = Math.floor(afterEvents);
  if (body.abort === true) spec.abort = true;
  if (typeof body.code === 'string' && body.code) spec.code = body.code;
  if (typeof body.message === 'string' && body.message) spec.message = body.message;
  if (body.terminal === false) spec.terminal = false;
  const delayMs = asOptionalNumber(body, 'delayMs', 0);
  if (delayMs !== undefined) spec.delayMs = delayMs;
  if (body.target !== undefined) {
    if (body.target !== 'prompt' && body.target !== 'completion') {
      throw badRequest("'target' must be 'prompt' or 'completion'.", 'target', 'invalid_value');
    }
    spec.target = body.target;
  }
  return spec;
}

/** Faults injected at run time; each matching request consumes one `count`. */
export class FaultRegistry {
  private faults: Fault[] = [];
  private nextId = 1;

  add(spec: FaultSpec): Fault {
    const fault: Fault = { ...spec, id: this.nextId++, hits: 0 };
    this.faults.push(fault);
    return fault;
  }

  clear(): void {
    this.faults = [];
  }

  list(): Fault[] {
    return this.faults.map((f) => ({ ...f }));
  }

  /** HTTP-level faults (429/500/503/408/504/latency) that hit this request, consumed. */
  takeHttp(method: string, template: string): Fault[] {
    let statusTaken = false;
    return this.take((f) => {
      if (!HTTP_KINDS.has(f.kind) || !this.matches(f, method, template)) return false;
      if (f.kind === 'latency') return true;
      // One status answer per request; a second status fault waits for the next request.
      if (statusTaken) return false;
      statusTaken = true;
      return true;
    }, true);
  }

  /** The first behaviour fault of `kind` that hits this request, consumed. */
  takeBehaviour(kind: FaultKind, method: string, template: string): Fault | undefined {
    return this.take((f) => f.kind === kind && this.matches(f, method, template), false)[0];
  }

  private matches(fault: Fault, method: string, template: string): boolean {
    if (fault.method && fault.method !== method) return false;
    if (!fault.route) return true;
    const route = fault.route.replace(/^\/openai\/v1/, '');
    return route === template || route === `${method} ${template}` || fault.route === `${method} ${template}`;
  }

  private take(predicate: (fault: Fault) => boolean, all: boolean): Fault[] {
    const hit: Fault[] = [];
    for (const fault of this.faults) {
      if (!predicate(fault)) continue;
      fault.hits++;
      hit.push({ ...fault });
      if (!all) break;
    }
    this.faults = this.faults.filter((f) => f.count === undefined || f.hits < f.count);
    return hit;
  }
}
