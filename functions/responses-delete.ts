import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { deleteResponse } from '../shared/responses/manage';

export async function responsesDelete(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await deleteResponse(caller, routeId(request, 'id')));
}

app.http('responses-delete', {
  route: 'v1/responses/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: withErrors(responsesDelete),
});
