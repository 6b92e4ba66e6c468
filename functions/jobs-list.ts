import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { toErrorResponse } from '../shared/platform/errors';
import { json } from '../shared/platform/http';
import { listJobs, parseListJobsQuery } from '../shared/jobs';

/** `GET /api/v1/jobs?status=&kind=&limit=&after=`: the caller's background jobs, newest first. */
export async function jobsList(request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    const caller = await authenticate(request);
    const options = parseListJobsQuery(request.query);
    return json(200, await listJobs(caller, options), { 'cache-control': 'no-store' });
  } catch (e) {
    return toErrorResponse(e, context);
  }
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/auth.ts.
app.http('jobs-list', { route: 'v1/jobs', methods: ['GET'], authLevel: 'anonymous', handler: jobsList });
