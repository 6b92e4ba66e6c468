import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json } from '../shared/http';
import { withErrors } from '../shared/handler';
import { listDocuments, parseListDocumentsQuery } from '../shared/documents/listing';

export async function documentsList(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await listDocuments(caller, parseListDocumentsQuery(request.query)));
}

app.http('documents-list', {
  route: 'v1/documents',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(documentsList),
});
