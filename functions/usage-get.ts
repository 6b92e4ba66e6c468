import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { withErrors } from '../shared/platform/handler';
import { json } from '../shared/platform/http';
import { parseUsageQuery, usagePage } from '../shared/usage/query';

/**
 * `GET /api/v1/usage?start_time=&end_time=&bucket_width=1h|1d&group_by=model&limit=&page=`: the caller's own
 * token usage, shaped like OpenAI's Usage API (shared/usage/query.ts).
 */
export async function usageGet(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const query = parseUsageQuery(request.query);
  return json(200, await usagePage(caller, query), { 'cache-control': 'no-store' });
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/callers/auth.ts.
app.http('usage-get', {
  route: 'v1/usage',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(usageGet),
});
