import { createHash, randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalHost, type LocalHost } from '../../tools/local-host/host';
import { FIXTURE_APP, fixtureState, sleep, waitFor } from './helpers';

const terminateMarker = join(mkdtempSync(join(tmpdir(), 'lh-http-')), 'terminated');

describe('local host serving HTTP with streaming (the production setup)', () => {
  let host: LocalHost;
  const lines: string[] = [];

  beforeAll(async () => {
    host = await startLocalHost({
      appRoot: FIXTURE_APP,
      port: 0,
      settings: { FIXTURE_TERMINATE_MARKER: terminateMarker, FIXTURE_STREAMING: 'true' },
      log: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host?.close();
  });

  const get = (path: string, init?: RequestInit) => fetch(`${host.url}${path}`, init);

  it('lists the routes it serves and reports Running on the admin status route', async () => {
    expect(lines).toContain(
      lines.find((l) => l.endsWith(`hello: [GET] ${host.url}/api/hello/{name:alpha}/{greeting?}`)),
    );
    expect(lines.some((l) => l.endsWith(`Host started: ${host.url}`))).toBe(true);
    const status = await get('/admin/host/status');
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ state: 'Running' });
    expect(host.functions).toEqual(expect.arrayContaining(['hello', 'sse', 'tick', 'sample-blob']));
  });

  it('binds route parameters, optional parameters and the query, with settings from local.settings.json', async () => {
    const a = await get('/api/hello/ann?q=1');
    expect(a.status).toBe(200);
    expect(await a.json()).toMatchObject({ name: 'ann', greeting: 'hello from local.settings.json', q: '1' });
    const b = await get('/API/Hello/ann/hi', { headers: { 'user-agent': 'lh-test' } });
    expect(await b.json()).toMatchObject({
      name: 'ann',
      greeting: 'hi',
      userAgent: 'lh-test',
      url: `${host.url}/API/Hello/ann/hi`,
    });
  });

  it('answers 404 when a constraint rejects the value or the method is not allowed', async () => {
    expect((await get('/api/hello/b0b')).status).toBe(404);
    expect((await get('/api/items', { method: 'DELETE' })).status).toBe(404);
    expect((await get('/api/no-such-route')).status).toBe(404);
  });

  it('prefers a literal route over a parameter, and serves catch-alls and default routes', async () => {
    expect(await (await get('/api/items/special')).json()).toEqual({ special: true });
    expect(await (await get('/api/items/42')).json()).toEqual({ id: 42, kind: 'int' });
    expect((await get('/api/items/abc')).status).toBe(404);
    expect(await (await get('/api/files/a/b/c.txt')).json()).toEqual({ path: 'a/b/c.txt' });
    expect(await (await get('/api/files')).json()).toEqual({ path: null });
    expect(await (await get('/api/things/whatever')).json()).toEqual({ id: 'whatever' });
    expect(lines.some((l) => l.includes('unknown constraint madeup'))).toBe(true);
    expect(await (await get('/api/defaultRoute')).text()).toBe('default route');
    expect((await get('/api/defaultRoute', { method: 'POST' })).status).toBe(200);
  });

  it('passes JSON bodies and methods through', async () => {
    const res = await get('/api/items', {
      method: 'PUT',
      body: JSON.stringify({ a: 1 }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ method: 'PUT', received: { a: 1 } });
  });

  it('answers 500 when the handler throws and 204 when it returns nothing', async () => {
    expect((await get('/api/boom')).status).toBe(500);
    expect(lines.some((l) => l.includes('[boom] Error:') && l.includes('boom on purpose'))).toBe(true);
    expect((await get('/api/nothing')).status).toBe(204);
  });

  it('relays headers and cookies, and prints context.log output with the function name', async () => {
    const res = await get('/api/cookie');
    expect(res.headers.get('x-custom')).toBe('yes');
    expect(res.headers.get('set-cookie')).toMatch(/^session=abc;.*HttpOnly/i);
    expect(await res.text()).toBe('cookie set');
    expect(lines.some((l) => /^\[\d{4}-\d\d-\d\dT[^\]]+\] \[cookie\] setting a cookie$/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes('[cookie] Warning: a warning from the handler'))).toBe(true);
  });

  it('runs app.hook appStart, preInvocation and postInvocation hooks', async () => {
    const res = await get('/api/hooked');
    expect(res.headers.get('x-handler')).toBe('yes');
    expect(res.headers.get('x-hooked')).toBe('pre');
    const state = await fixtureState(host.url);
    expect(state.hooks.appStart).toEqual({ hookData: 'object' });
    expect(state.hooks.preInvocation).toBeGreaterThan(0);
    expect(state.hooks.lastPostSawPre).toBe(true);
  });

  it('streams server-sent events as they are produced, not when the body ends', async () => {
    const started = Date.now();
    const res = await get('/api/sse?count=6');
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const arrivals: { i: number; producedAt: number; arrivedAt: number }[] = [];
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = JSON.parse(buffer.slice(0, end).replace(/^data: /, ''));
        arrivals.push({ ...event, arrivedAt: Date.now() });
        buffer = buffer.slice(end + 2);
      }
    }
    expect(arrivals.map((a) => a.i)).toEqual([0, 1, 2, 3, 4, 5]);
    const first = arrivals[0]!;
    const last = arrivals[5]!;
    // The first event reached the client ~500 ms before the last one was even produced.
    expect(first.arrivedAt).toBeLessThan(last.producedAt - 300);
    expect(last.arrivedAt - first.arrivedAt).toBeGreaterThanOrEqual(400);
    expect(first.arrivedAt - started).toBeLessThan(1000);
  });

  it('streams the request body to the handler while the response streams back', async () => {
    // Ping-pong: each chunk is sent only after the previous one came back, which only works if neither side buffers.
    const url = new URL(`${host.url}/api/echo`);
    const received = await new Promise<string>((resolve, reject) => {
      const req = http.request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
      });
      const chunks = ['one|', 'two|', 'three|'];
      let got = '';
      let sent = 0;
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          got += d;
          if (got === chunks.slice(0, sent).join('')) {
            if (sent < chunks.length) req.write(chunks[sent++]);
            else req.end();
          }
        });
        res.on('end', () => resolve(got));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.write(chunks[sent++]);
    });
    expect(received).toBe('one|two|three|');
  });

  it('echoes a large streamed request body byte for byte', async () => {
    const body = randomBytes(16 * 1024 * 1024);
    const res = await get('/api/echo', { method: 'POST', body });
    const back = Buffer.from(await res.arrayBuffer());
    expect(back.length).toBe(body.length);
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  });

  it('closes the proxied request when the client disconnects, so a handler reading the body sees the abort', async () => {
    const id = `u${Date.now()}`;
    await new Promise<void>((resolve) => {
      const req = http.request(`${host.url}/api/slow-upload/${id}`, {
        method: 'POST',
        headers: { 'transfer-encoding': 'chunked' },
      });
      req.on('error', () => resolve());
      req.write('first chunk');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 300);
    });
    const upload = await waitFor('the handler to notice the abort', async () => {
      const s = (await fixtureState(host.url)).uploads[id];
      return s?.status === 'aborted' ? s : undefined;
    });
    expect(upload.bytes).toBe('first chunk'.length);
    // The host keeps serving.
    expect((await get('/api/items/1')).status).toBe(200);
  });

  it('reuses one loopback connection to the library proxy for requests that follow each other', async () => {
    // The in-process host's proxy server publishes on this process's diagnostics channel.
    const proxied: Array<{ socket: object; remoteAddress: string | undefined }> = [];
    const onStart = (message: unknown): void => {
      const { request } = message as { request: http.IncomingMessage };
      if (typeof request.headers['x-ms-invocation-id'] === 'string')
        proxied.push({ socket: request.socket, remoteAddress: request.socket.remoteAddress });
    };
    diagnosticsChannel.subscribe('http.server.request.start', onStart);
    try {
      for (let i = 0; i < 5; i++) {
        const res = await get(`/api/items/${i}`);
        expect(res.status).toBe(200);
        await res.arrayBuffer();
      }
    } finally {
      diagnosticsChannel.unsubscribe('http.server.request.start', onStart);
    }
    expect(proxied).toHaveLength(5);
    expect(new Set(proxied.map((p) => p.socket)).size).toBe(1);
    expect(proxied[0]!.remoteAddress).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
  });

  it('stops an SSE relay when the client goes away and keeps serving', async () => {
    const controller = new AbortController();
    const res = await get('/api/sse?count=20', { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await sleep(100);
    expect((await get('/api/items/2')).status).toBe(200);
  });
});

describe('local host without enableHttpStream (inputData path)', () => {
  let host: LocalHost;
  const lines: string[] = [];

  beforeAll(async () => {
    host = await startLocalHost({
      appRoot: FIXTURE_APP,
      port: 0,
      settings: { FIXTURE_STREAMING: 'false', FIXTURE_GREETING: 'explicit override' },
      log: (line) => lines.push(line),
    });
  });
  afterAll(async () => {
    await host?.close();
  });

  it('ran the appTerminate hooks of the previous host when it closed', () => {
    expect(existsSync(terminateMarker)).toBe(true);
  });

  it('serves parameters, bodies, headers, cookies and errors from a freshly loaded app', async () => {
    expect(await (await fetch(`${host.url}/api/hello/ann?q=2`)).json()).toMatchObject({
      name: 'ann',
      greeting: 'explicit override',
      q: '2',
    });
    const created = await fetch(`${host.url}/api/items`, { method: 'POST', body: JSON.stringify({ b: 2 }) });
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ method: 'POST', received: { b: 2 } });
    const cookie = await fetch(`${host.url}/api/cookie`);
    expect(cookie.headers.get('set-cookie')).toMatch(/^session=abc;.*HttpOnly/i);
    expect(await cookie.text()).toBe('cookie set');
    expect((await fetch(`${host.url}/api/boom`)).status).toBe(500);
    expect((await fetch(`${host.url}/api/nothing`)).status).toBe(204);
    // The fixture state is fresh: the app's modules were loaded again.
    expect((await fixtureState(host.url)).uploads).toEqual({});
  });

  it('still delivers a (buffered) SSE body', async () => {
    const text = await (await fetch(`${host.url}/api/sse?count=3`)).text();
    expect(text.match(/^data: /gm)).toHaveLength(3);
  });
});
