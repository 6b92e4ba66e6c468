import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
import { cancelResponse } from '../shared/responses/service';

export async function responsesCancel(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await cancelResponse(caller, routeId(request, 'id')));
}

app.http('responses-cancel', {
  route: 'v1/responses/{id}/cancel',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCancel),
});
