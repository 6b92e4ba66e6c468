import { app, type HttpRequest, type HttpResponseInit } from '@azure/functions';
import { Readable } from 'node:stream';
import { authenticate } from '../shared/auth';
import { notFound } from '../shared/errors';
import { routeId } from '../shared/http';
import { withErrors } from '../shared/handler';
import { openImage } from '../shared/images';
import { assertOwned } from '../shared/ownership';

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
