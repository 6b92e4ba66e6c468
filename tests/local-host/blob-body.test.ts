import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { readBlobBody } from '../../tools/local-host/blob-events';

/** `data` as a stream of `size`-byte chunks, as an HTTP response body arrives. */
const chunked = (data: Buffer, size: number) =>
  Readable.from(
    Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size)),
  );

describe('reading a blob body for the trigger', () => {
  const data = randomBytes(300_000);

  it('delivers exactly the blob bytes when the length is announced', async () => {
    const bytes = await readBlobBody(chunked(data, 65_536), data.length);
    expect(bytes.equals(data)).toBe(true);
  });

  it('delivers exactly the bytes that arrived when the body is shorter or longer than announced', async () => {
    expect((await readBlobBody(chunked(data, 65_536), data.length + 1_000)).equals(data)).toBe(true);
    expect((await readBlobBody(chunked(data, 65_536), data.length - 70_000)).equals(data)).toBe(true);
  });

  it('delivers the bytes without an announced length, and nothing for no body', async () => {
    expect((await readBlobBody(chunked(data, 10_000), undefined)).equals(data)).toBe(true);
    expect((await readBlobBody(undefined, 10)).length).toBe(0);
    expect((await readBlobBody(Readable.from([]), 0)).length).toBe(0);
  });
});
