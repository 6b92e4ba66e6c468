import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { json, readBody } from '../shared/http';
import { withErrors } from '../shared/handler';
import { uploadFile } from '../shared/files';

export async function filesCreate(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const raw = await readBody(request);
  return json(200, await uploadFile(caller, raw, request.headers.get('content-type') ?? ''));
}

app.http('files-create', {
  route: 'v1/files',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(filesCreate),
});
