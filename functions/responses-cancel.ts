import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { cancelResponse } from '../shared/responses/manage';

export async function responsesCancel(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await cancelResponse(caller, routeId(request, 'id'), context));
}

app.http('responses-cancel', {
  route: 'v1/responses/{id}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCancel),
});
