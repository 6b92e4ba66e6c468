import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { listJobs, parseListJobsQuery } from '../shared/jobs';
import { withErrors } from '../shared/platform/handler';
import { json } from '../shared/platform/http';

/** `GET /api/v1/jobs?status=&kind=&limit=&after=`: the caller's background jobs, newest first. */
export async function jobsList(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const options = parseListJobsQuery(request.query);
  return json(200, await listJobs(caller, options), { 'cache-control': 'no-store' });
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/callers/auth.ts.
app.http('jobs-list', {
  route: 'v1/jobs',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(jobsList),
});
