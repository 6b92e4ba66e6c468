import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { checkHealth } from '../shared/platform/health';

export async function health(_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  const report = await checkHealth(context);
  return {
    status: report.status === 'ok' ? 200 : 503,
    jsonBody: report,
    headers: { 'cache-control': 'no-store' },
  };
}

// The one route the app does not authenticate (every route is `anonymous` to the host, which leaves
// authentication to the app): load balancers and `npm start` probe it without a key.
app.http('health', { route: 'health', methods: ['GET'], authLevel: 'anonymous', handler: health });
