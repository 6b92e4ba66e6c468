import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { handleUpstreamWebhook } from '../shared/jobs';
import { readBody } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';

/** Standard Webhooks deliveries are a few hundred bytes; anything near this is not one. */
const MAX_EVENT_BYTES = 64 * 1024;

/**
 * Azure OpenAI's webhooks (`response.completed` and the other ends of background responses). Not behind caller
 * keys: the upstream's signature is the authentication. Answers 200 to every authentic delivery, whatever it did.
 */
export async function upstreamWebhooks(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  // The signature covers the exact bytes: read them raw, never re-serialized.
  const body = (await readBody(request, MAX_EVENT_BYTES)).toString('utf8');
  const result = await handleUpstreamWebhook(body, Object.fromEntries(request.headers), context);
  context.log(JSON.stringify({ event: 'upstream_webhook', ...result }));
  return { status: 200 };
}

app.http('upstream-webhooks', {
  route: 'v1/upstream/webhooks',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(upstreamWebhooks),
});
