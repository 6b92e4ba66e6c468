const { app } = require('@azure/functions');
const state = require('../lib/state');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Server-sent events, one every 100 ms, each carrying the time it was produced.
app.http('sse', {
  route: 'sse',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (request) => {
    const count = Number(request.query.get('count') ?? '5');
    const encoder = new TextEncoder();
    const body = new ReadableStream({
      async start(controller) {
        for (let i = 0; i < count; i++) {
          if (i > 0) await sleep(100);
          controller.enqueue(encoder.encode(`data: ${JSON.stringify({ i, producedAt: Date.now() })}\n\n`));
        }
        controller.close();
      },
    });
    return { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body };
  },
});

// Echoes the request body as it arrives: the response streams while the request is still being sent.
app.http('echo', {
  route: 'echo',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: (request) => ({ headers: { 'content-type': 'application/octet-stream' }, body: request.body }),
});

// Reads a slow upload; records whether it completed or the client went away mid-way.
app.http('slow-upload', {
  route: 'slow-upload/{id}',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: async (request, context) => {
    const id = request.params.id;
    state.uploads[id] = { status: 'reading', bytes: 0 };
    try {
      const reader = request.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        state.uploads[id].bytes += value.length;
      }
      state.uploads[id].status = 'completed';
      return { jsonBody: state.uploads[id] };
    } catch (err) {
      state.uploads[id].status = 'aborted';
      context.log(`upload ${id} aborted: ${err.message}`);
      return { status: 499 };
    }
  },
});
