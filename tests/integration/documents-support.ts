/** PDFs and other files for the documents tests, generated with known content. */
import { randomBytes } from 'node:crypto';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { PNG } from 'pngjs';
import type { ContainerClient } from '@azure/storage-blob';
import type { BlobDelivery } from '../../shared/documents/ingest';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

/**
 * A PDF whose pages carry `sentences` (one per line). `padBytes` adds an attachment of random (incompressible)
 * bytes to reach a size, e.g. above the Files API threshold.
 */
export async function makePdf(sentences: string[], options: { padBytes?: number } = {}): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const page = doc.addPage();
  sentences.forEach((s, i) => page.drawText(s, { x: 40, y: 760 - i * 18, size: 11, font }));
  if (options.padBytes)
    await doc.attach(randomBytes(options.padBytes), 'padding.bin', { mimeType: 'application/octet-stream' });
  return Buffer.from(await doc.save());
}

/** A small valid PNG (for "a PNG renamed to .pdf"). */
export function makePng(): Buffer {
  const png = new PNG({ width: 4, height: 4 });
  png.data.fill(200);
  return PNG.sync.write(png);
}

/** The rejection corpus: name suffix, bytes, expected rejection code. `tooLarge` must exceed DOCUMENT_MAX_BYTES. */
export async function rejectionCorpus(
  tooLargeBytes: number,
): Promise<{ name: string; data: Buffer; code: string }[]> {
  const good = await makePdf(['A document that will be cut short.']);
  return [
    { name: 'empty.pdf', data: Buffer.alloc(0), code: 'empty' },
    { name: 'not-a-pdf.pdf', data: Buffer.from('Just some text, not a PDF at all.\n'), code: 'not_pdf' },
    { name: 'truncated.pdf', data: good.subarray(0, Math.floor(good.length / 2)), code: 'unreadable_pdf' },
    { name: 'too-large.pdf', data: await makePdf(['Big.'], { padBytes: tooLargeBytes }), code: 'too_large' },
    { name: 'image.pdf', data: makePng(), code: 'not_pdf' },
    { name: 'notes.txt', data: Buffer.from('%PDF-1.7 but the name is wrong'), code: 'not_pdf_name' },
  ];
}

/** Repeats `probe` until it returns a value, or fails after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  onTimeout?: () => string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${onTimeout ? `\n${onTimeout()}` : ''}`);
    await sleep(100);
  }
}

/** Uploads `data` as `name` into `documents` and returns the delivery the blob trigger would get for this version. */
export async function putBlob(documents: ContainerClient, name: string, data: Buffer): Promise<BlobDelivery> {
  const blob = documents.getBlockBlobClient(name);
  await blob.uploadData(data);
  const properties = await blob.getProperties();
  return {
    name,
    data,
    etag: properties.etag!,
    lastModified: properties.lastModified!.getTime(),
    bytes: data.byteLength,
  };
}
