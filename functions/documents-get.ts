import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
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
