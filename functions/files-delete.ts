import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { deleteFile } from '../shared/files/service';

export async function filesDelete(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await deleteFile(caller, routeId(request, 'id')));
}

app.http('files-delete', {
  route: 'v1/files/{id}',
  methods: ['DELETE'],
  authLevel: 'anonymous',
  handler: withErrors(filesDelete),
});
