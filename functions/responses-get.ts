import { app, type HttpRequest, type HttpResponseInit, type InvocationContext } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { disconnectSignal } from '../shared/platform/disconnect';
import { badRequest } from '../shared/platform/errors';
import { json, queryList, routeId } from '../shared/platform/http';
import { sse, withErrors } from '../shared/platform/handler';
import { retrieveResponse, retrieveResponseStream } from '../shared/responses/retrieve';

export async function responsesGet(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const id = routeId(request, 'id');
  const include = queryList(request, 'include');
  const stream = request.query.get('stream') === 'true';
  const after = request.query.get('starting_after');
  if (after !== null && !/^\d{1,9}$/.test(after)) {
    throw badRequest(
      "'starting_after' must be a non-negative integer (a sequence_number).",
      'starting_after',
    );
  }
  if (!stream) return json(200, await retrieveResponse(caller, id, include));
  const startingAfter = after === null ? undefined : Number(after);
  return sse(
    await retrieveResponseStream(
      caller,
      id,
      { include, stream, startingAfter },
      disconnectSignal(context.invocationId),
      context,
    ),
  );
}

app.http('responses-get', {
  route: 'v1/responses/{id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(responsesGet),
});
