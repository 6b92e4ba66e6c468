import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
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
