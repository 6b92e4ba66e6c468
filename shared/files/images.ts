/**
 * Generated images: `image_generation_call` results are written to the `images` container as
 * `<response id>/<item id>.png` when a response completes (synchronous, streamed and background alike), and
 * served back by `GET /api/v1/responses/{id}/images/{item_id}`.
 */
import type { Response } from 'openai/resources/responses/responses';
import { CONTAINERS, container, isNotFound } from '../platform/storage';

const blobName = (responseId: string, itemId: string) => `${responseId}/${itemId}.png`;

interface ImageItem {
  type: 'image_generation_call';
  id: string;
  result: string | null;
}

function imageItems(response: Pick<Response, 'output'>): ImageItem[] {
  return (response.output ?? []).filter(
    (item): item is ImageItem & Response['output'][number] =>
      item.type === 'image_generation_call' && typeof (item as ImageItem).result === 'string',
  );
}

/** Writes every generated image of `response`. Idempotent (same name, same bytes). Returns the item ids stored. */
export async function storeImages(response: Pick<Response, 'id' | 'output'>): Promise<string[]> {
  const items = imageItems(response);
  if (items.length === 0) return [];
  const images = await container(CONTAINERS.images);
  await Promise.all(
    items.map((item) => {
      const bytes = Buffer.from(item.result!, 'base64');
      return images
        .getBlockBlobClient(blobName(response.id, item.id))
        .uploadData(bytes, { blobHTTPHeaders: { blobContentType: 'image/png' } });
    }),
  );
  return items.map((i) => i.id);
}

/** A stored image as a stream, or undefined if there is none. */
export async function openImage(
  responseId: string,
  itemId: string,
): Promise<{ stream: NodeJS.ReadableStream; length: number } | undefined> {
  const images = await container(CONTAINERS.images);
  try {
    const download = await images.getBlobClient(blobName(responseId, itemId)).download();
    return { stream: download.readableStreamBody!, length: download.contentLength ?? 0 };
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Deletes every image of a response (when the response is deleted). */
export async function deleteImages(responseId: string): Promise<void> {
  const images = await container(CONTAINERS.images);
  for await (const blob of images.listBlobsFlat({ prefix: `${responseId}/` })) {
    await images.deleteBlob(blob.name, { deleteSnapshots: 'include' }).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }
}
