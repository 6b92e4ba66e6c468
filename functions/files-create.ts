import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, readBody } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { uploadFile } from '../shared/files/service';

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
