import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { authenticate } from '../shared/callers/auth';
import { badRequest } from '../shared/platform/errors';
import { json, queryList, routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { listInputItems, type ListQuery } from '../shared/responses/retrieve';

function parseListQuery(request: HttpRequest): ListQuery {
  const limitRaw = request.query.get('limit');
  const limit = limitRaw === null ? undefined : Number(limitRaw);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1 || limit > 100)) {
    throw badRequest("'limit' must be an integer from 1 to 100.", 'limit');
  }
  const order = request.query.get('order') ?? undefined;
  if (order !== undefined && order !== 'asc' && order !== 'desc')
    throw badRequest("'order' must be 'asc' or 'desc'.", 'order');
  const cursor = (name: string) => {
    const v = request.query.get(name) ?? undefined;
    if (v !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(v))
      throw badRequest(`'${name}' is not a valid item id.`, name);
    return v;
  };
  return {
    limit,
    order,
    after: cursor('after'),
    before: cursor('before'),
    include: queryList(request, 'include'),
  };
}

export async function responsesInputItems(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  return json(200, await listInputItems(caller, routeId(request, 'id'), parseListQuery(request)));
}

app.http('responses-input-items', {
  route: 'v1/responses/{id}/input_items',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(responsesInputItems),
});
