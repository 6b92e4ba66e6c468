const { app } = require('@azure/functions');
const state = require('../lib/state');

app.http('hello', {
  route: 'hello/{name:alpha}/{greeting?}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (request) => ({
    jsonBody: {
      name: request.params.name,
      greeting: request.params.greeting ?? process.env.FIXTURE_GREETING,
      q: request.query.get('q'),
      url: request.url,
      userAgent: request.headers.get('user-agent'),
    },
  }),
});

app.http('items-get', {
  route: 'items/{id:int}',
  methods: ['GET'],
  authLevel: 'function',
  handler: (request) => ({ jsonBody: { id: Number(request.params.id), kind: 'int' } }),
});

app.http('items-special', {
  route: 'items/special',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => ({ jsonBody: { special: true } }),
});

app.http('items-create', {
  route: 'items',
  methods: ['POST', 'PUT'],
  authLevel: 'anonymous',
  handler: async (request) => ({
    status: 201,
    jsonBody: { method: request.method, received: await request.json() },
  }),
});

app.http('files', {
  route: 'files/{*path}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (request) => ({ jsonBody: { path: request.params.path ?? null } }),
});

app.http('things', {
  route: 'things/{id:madeup(3)}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (request) => ({ jsonBody: { id: request.params.id } }),
});

// No route: served at /api/<function name>, for GET and POST (the library's default methods).
app.http('defaultRoute', { handler: () => ({ body: 'default route' }) });

app.http('boom', {
  route: 'boom',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => {
    throw new Error('boom on purpose');
  },
});

app.http('nothing', {
  route: 'nothing',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => undefined,
});

app.http('cookie', {
  route: 'cookie',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: (_request, context) => {
    context.log('setting a cookie');
    context.warn('a warning from the handler');
    return {
      status: 200,
      headers: { 'x-custom': 'yes' },
      cookies: [{ name: 'session', value: 'abc', httpOnly: true, path: '/' }],
      body: 'cookie set',
    };
  },
});

app.http('hooked', {
  route: 'hooked',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => ({ headers: { 'x-handler': 'yes' }, body: 'hooked' }),
});

app.http('state', {
  route: 'state',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: () => ({ jsonBody: state }),
});
