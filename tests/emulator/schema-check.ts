/**
 * Checks everything the emulator sends against the official schemas (tools/emulator/schemas): every Response,
 * stream event, item list, compaction, token count and error. The harness's clients fetch through
 * {@link SchemaWatch.fetch}, so every test in tests/emulator is checked without asking.
 */
import { validatorFor } from '../../tools/emulator/schemas';

const ROUTES: Array<{ method: string; pattern: RegExp; schema: string }> = [
  { method: 'POST', pattern: /^\/responses$/, schema: 'Response' },
  { method: 'POST', pattern: /^\/responses\/compact$/, schema: 'CompactResource' },
  { method: 'POST', pattern: /^\/responses\/input_tokens$/, schema: 'TokenCountsResource' },
  { method: 'GET', pattern: /^\/responses\/[^/]+$/, schema: 'Response' },
  { method: 'POST', pattern: /^\/responses\/[^/]+\/cancel$/, schema: 'Response' },
  { method: 'GET', pattern: /^\/responses\/[^/]+\/input_items$/, schema: 'ResponseItemList' },
];

function describe(errors: unknown): string {
  return JSON.stringify(errors).slice(0, 1500);
}

/**
 * The one place the service and the spec disagree on what the emulator models: a response that has not ended
 * carries `usage: null` on the wire (the spec's own `response.created` example does too), while the schema
 * types `usage` as an object. Such a `usage` is checked as absent; everything else is checked as sent.
 */
function withoutKnownQuirks(value: unknown): unknown {
  const strip = (r: unknown): unknown => {
    if (!r || typeof r !== 'object') return r;
    const response = r as { status?: string; usage?: unknown };
    if (response.usage !== null || (response.status !== 'queued' && response.status !== 'in_progress'))
      return r;
    const { usage: _null, ...rest } = response;
    return rest;
  };
  if (!value || typeof value !== 'object') return value;
  if ((value as { object?: string }).object === 'response') return strip(value);
  const event = value as { response?: unknown };
  return event.response ? { ...event, response: strip(event.response) } : value;
}

export class SchemaWatch {
  readonly violations: string[] = [];
  /** Bodies and streams counted per schema, so a test can see the watch really looked. */
  readonly checked = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();

  constructor() {
    // Compile now: compiling on the first check would stall this process (and the emulator in it) mid-test.
    for (const name of new Set(ROUTES.map((r) => r.schema)).add('ResponseStreamEvent').add('ErrorResponse'))
      validatorFor(name, 'strict');
  }

  /** A `fetch` that hands the caller the answer untouched and checks a copy of it. */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    const res = await fetch(request);
    const path = new URL(request.url).pathname.replace(/^\/openai\/v1/, '');
    const type = res.headers.get('content-type') ?? '';
    const where = `${request.method} ${path} → ${res.status}`;
    if (type.includes('text/event-stream') && res.body) {
      // Read through rather than tee: a tee's cancel waits for both branches, so an SDK that stops reading
      // early would hang until the stream ended.
      const { stream, checked } = this.watchStream(res.body, where);
      this.pending.add(checked);
      void checked.finally(() => this.pending.delete(checked));
      return new Response(stream, { status: res.status, statusText: res.statusText, headers: res.headers });
    }
    if (type.includes('application/json')) {
      const text = await res.clone().text();
      this.checkJson(request.method, path, res.status, text, where);
    }
    return res;
  };

  /** Waits for streams still being read, then answers the violations seen so far. */
  async settle(): Promise<string[]> {
    await Promise.allSettled([...this.pending]);
    return this.violations;
  }

  check(schema: string, value: unknown, where: string): void {
    const validate = validatorFor(schema, 'strict');
    value = withoutKnownQuirks(value);
    this.checked.set(schema, (this.checked.get(schema) ?? 0) + 1);
    if (!validate(value))
      this.violations.push(`${where}: not a valid ${schema}: ${describe(validate.errors)}`);
    const response = schema === 'Response' ? value : (value as { response?: unknown } | null)?.response;
    if (response && typeof response === 'object' && 'output_text' in response) {
      this.violations.push(`${where}: output_text is an SDK convenience and must not be on the wire`);
    }
  }

  private checkJson(method: string, path: string, status: number, text: string, where: string): void {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      this.violations.push(`${where}: body is not JSON: ${text.slice(0, 200)}`);
      return;
    }
    if (status >= 400) {
      this.check('ErrorResponse', body, where);
      return;
    }
    const route = ROUTES.find((r) => r.method === method && r.pattern.test(path));
    if (route) this.check(route.schema, body, where);
  }

  private watchStream(
    body: ReadableStream<Uint8Array>,
    where: string,
  ): { stream: ReadableStream<Uint8Array>; checked: Promise<void> } {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let settle = () => {};
    const checked = new Promise<void>((resolve) => (settle = resolve));
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      // A cut or aborted stream: the frames that arrived whole are still checked.
      this.checkFrames(text, where);
      settle();
    };
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const chunk = await reader.read();
          if (chunk.done) {
            finish();
            controller.close();
            return;
          }
          text += decoder.decode(chunk.value, { stream: true });
          controller.enqueue(chunk.value);
        } catch (e) {
          finish();
          controller.error(e);
        }
      },
      async cancel(reason) {
        finish();
        await reader.cancel(reason);
      },
    });
    return { stream, checked };
  }

  private checkFrames(text: string, where: string): void {
    const blocks = text.split('\n\n');
    blocks.pop(); // the unterminated tail, if any
    for (const block of blocks) {
      const data = block
        .split('\n')
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice(6))
        .join('\n');
      if (!data) continue;
      let event: unknown;
      try {
        event = JSON.parse(data);
      } catch {
        this.violations.push(`${where}: stream frame is not JSON: ${data.slice(0, 200)}`);
        continue;
      }
      this.check('ResponseStreamEvent', event, `${where} event ${(event as { type?: string }).type ?? '?'}`);
    }
  }
}
