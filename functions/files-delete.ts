import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
import { deleteFile } from '../shared/files';

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
