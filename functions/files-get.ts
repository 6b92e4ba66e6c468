import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
import { retrieveFile } from '../shared/files';

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
