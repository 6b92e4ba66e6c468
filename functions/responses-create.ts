import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { disconnectSignal } from '../shared/platform/disconnect';
import { json, readJsonObject } from '../shared/platform/http';
import { sse, withErrors } from '../shared/platform/handler';
import { createResponse } from '../shared/responses/create';
import { registerIdempotencyTasks } from '../shared/idempotency/tasks';
import { startLimitSync } from '../shared/limits';

export async function responsesCreate(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const { body } = await readJsonObject(request);
  const result = await createResponse(
    {
      caller,
      context,
      signal: disconnectSignal(context.invocationId),
      idempotencyKey: request.headers.get('idempotency-key'),
      webhookUrl: request.headers.get('x-webhook-url'),
    },
    body,
  );
  return 'stream' in result ? sse(result.stream, result.headers) : json(200, result.response, result.headers);
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/callers/auth.ts.
app.http('responses-create', {
  route: 'v1/responses',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCreate),
});

// The poller (in whichever instance runs it) purges Idempotency-Keys once they expire.
registerIdempotencyTasks();

// Instances reconcile the callers' rate limits in the background from the start (shared/limits/sync.ts).
app.hook.appStart(() => startLimitSync());
