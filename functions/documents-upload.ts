import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { uploadDocument } from '../shared/documents/upload';
import { documentUrl } from '../shared/documents/owner';

export async function documentsUpload(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const document = await uploadDocument(caller, request);
  const statusUrl = documentUrl(document.id);
  return json(202, { ...document, status_url: statusUrl }, { location: statusUrl });
}

app.http('documents-upload', {
  route: 'v1/documents',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(documentsUpload),
});
