import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { json, readJsonObject } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { countInputTokens } from '../shared/responses/compact';

export async function responsesInputTokens(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const { body } = await readJsonObject(request);
  return json(200, await countInputTokens(caller, body));
}

app.http('responses-input-tokens', {
  route: 'v1/responses/input_tokens',
  methods: ['POST'],
  authLevel: 'anonymous',
  handler: withErrors(responsesInputTokens),
});
