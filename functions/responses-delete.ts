import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
import { deleteResponse } from '../shared/responses/service';

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
