import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { disconnectSignal } from '../shared/platform/disconnect';
import { json, readJsonObject } from '../shared/platform/http';
import { sse, withErrors } from '../shared/platform/handler';
import {
  createResponse,
  createResponseIdempotent,
  createResponseStream,
  prepareCreate,
} from '../shared/responses/service';
import { registerIdempotencyTasks } from '../shared/idempotency/tasks';
import { resolveWebhookTarget } from '../shared/webhooks/registration';

export async function responsesCreate(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const { body } = await readJsonObject(request);
  const cc = { caller, context, signal: disconnectSignal(context.invocationId) };
  const idempotencyKey = request.headers.get('idempotency-key');
  if (idempotencyKey !== null) {
    return json(
      200,
      await createResponseIdempotent(cc, body, idempotencyKey, request.headers.get('x-webhook-url')),
    );
  }
  const prepared = await prepareCreate(caller, body);
  const webhookUrl = prepared.fields.background
    ? await resolveWebhookTarget(caller, request.headers.get('x-webhook-url'))
    : undefined;
  if (prepared.fields.stream) return sse(await createResponseStream({ ...cc, webhookUrl }, prepared));
  return json(200, await createResponse({ ...cc, webhookUrl }, prepared));
}

// authLevel anonymous: the app authenticates every caller itself (gateway keys or Entra ID), see shared/auth.ts.
app.http('responses-create', {
  route: 'v1/responses',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesCreate),
});

// The poller (in whichever instance runs it) purges Idempotency-Keys once they expire.
registerIdempotencyTasks();
