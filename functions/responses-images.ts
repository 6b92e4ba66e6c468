import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { Readable } from 'node:stream';
import { authenticate } from '../shared/callers/auth';
import { routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { retrieveImage } from '../shared/responses/retrieve';

export async function responsesImages(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const id = routeId(request, 'id');
  const itemId = routeId(request, 'item_id');
  const image = await retrieveImage(caller, id, itemId);
  return {
    status: 200,
    headers: {
      'content-type': 'image/png',
      'content-length': String(image.length),
      'cache-control': 'private, max-age=3600',
    },
    body: Readable.from(image.stream),
  };
}

app.http('responses-images', {
  route: 'v1/responses/{id}/images/{item_id}',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: withErrors(responsesImages),
});
