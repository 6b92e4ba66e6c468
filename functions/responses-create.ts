import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/auth';
import { disconnectSignal } from '../shared/disconnect';
import { json, readJsonObject } from '../shared/http';
import { sse, withErrors } from '../shared/handler';
import { createResponse, createResponseStream, prepareCreate } from '../shared/responses/service';

export async function responsesCreate(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const { body } = await readJsonObject(request);
  const prepared = await prepareCreate(caller, body);
  const cc = { caller, context, signal: disconnectSignal(context.invocationId) };
  if (prepared.fields.stream) return sse(await createResponseStream(cc, prepared));
  return json(200, await createResponse(cc, prepared));
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/auth.ts.
app.http('responses-create', {
  route: 'v1/responses',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCreate),
});
