import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { retrieveFile } from '../shared/files/service';

export async function filesGet(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await retrieveFile(caller, routeId(request, 'id')));
}

app.http('files-get', {
  route: 'v1/files/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(filesGet),
});
