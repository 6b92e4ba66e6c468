import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, readJsonObject } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { compact } from '../shared/responses/compact';

export async function responsesCompact(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const { body } = await readJsonObject(request);
  return json(200, await compact(caller, body, context));
}

app.http('responses-compact', {
  route: 'v1/responses/compact',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCompact),
});
