import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { Readable } from 'node:stream';
import { authenticate } from '../shared/callers/auth';
import { notFound } from '../shared/platform/errors';
import { routeId } from '../shared/platform/http';
import { withErrors } from '../shared/platform/handler';
import { openImage } from '../shared/files/images';
import { assertOwned } from '../shared/callers/ownership';

export async function responsesImages(request: HttpRequest): Promise<HttpResponseInit> {
  const caller = await authenticate(request);
  const id = routeId(request, 'id');
  const itemId = routeId(request, 'item_id');
  await assertOwned(caller, id);
  const image = await openImage(id, itemId);
  if (!image) throw notFound(`No generated image '${itemId}' for response '${id}'.`, 'item_id');
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
