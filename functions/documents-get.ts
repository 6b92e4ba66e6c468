import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { getDocument } from '../shared/documents/listing';

export async function documentsGet(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await getDocument(caller, routeId(request, 'id')));
}

app.http('documents-get', {
  route: 'v1/documents/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(documentsGet),
});
