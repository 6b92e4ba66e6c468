import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { checkBytes, validatePdf } from '../../shared/documents/validate';
import { PdfGuard } from '../../shared/documents/upload';
import { makePdf, makePng, rejectionCorpus } from '../integration/documents-support';

const MAX = 64 * 1024;

describe('document validation', () => {
  it('accepts a real PDF and leaves its bytes intact', async () => {
    const pdf = await makePdf(['The quick brown fox jumps over the lazy dog.']);
    const copy = Buffer.from(pdf);
    expect(await validatePdf(pdf, MAX)).toBeUndefined();
    expect(pdf.equals(copy)).toBe(true);
  });

  it.each([
    ['empty.pdf', 'empty'],
    ['not-a-pdf.pdf', 'not_pdf'],
    ['truncated.pdf', 'unreadable_pdf'],
    ['too-large.pdf', 'too_large'],
    ['image.pdf', 'not_pdf'],
  ])('rejects %s with %s', async (name, code) => {
    const corpus = await rejectionCorpus(MAX + 1);
    const item = corpus.find((c) => c.name === name)!;
    const rejection = await validatePdf(item.data, MAX);
    expect(rejection?.code).toBe(code);
    expect(rejection?.message.length).toBeGreaterThan(10);
  });

  it('with consume, takes over the memory of a PDF that owns it and leaves the Buffer empty', async () => {
    const pdf = await makePdf(['Handed over, not copied.'], { padBytes: 20_000 });
    expect(pdf.byteLength).toBe(pdf.buffer.byteLength);
    expect(await validatePdf(pdf, MAX, { consume: true })).toBeUndefined();
    expect(pdf.byteLength).toBe(0);
  });

  it('with consume, still rejects what cannot be parsed', async () => {
    const good = await makePdf(['Cut short.'], { padBytes: 20_000 });
    const truncated = Buffer.from(good.subarray(0, good.length >> 1));
    expect((await validatePdf(truncated, MAX, { consume: true }))?.code).toBe('unreadable_pdf');
  });

  it('with consume, copies bytes that share their memory with other data and leaves them intact', async () => {
    const pdf = await makePdf(['Shared memory.']);
    const shared = Buffer.concat([Buffer.from('prefix'), pdf]).subarray(6);
    const copy = Buffer.from(shared);
    expect(await validatePdf(shared, MAX, { consume: true })).toBeUndefined();
    expect(shared.equals(copy)).toBe(true);
  });

  it('says how large a too-large blob is', () => {
    expect(checkBytes(Buffer.alloc(11, '%PDF-'), 10)?.message).toContain('11 bytes; the limit is 10');
  });

  it('rejects a PDF header followed by garbage as unreadable', async () => {
    expect((await validatePdf(Buffer.from('%PDF-1.7\n' + 'x'.repeat(500)), MAX))?.code).toBe(
      'unreadable_pdf',
    );
  });
});

async function pipeThroughGuard(chunks: Buffer[], max: number): Promise<{ bytes: number; error?: string }> {
  const guard = new PdfGuard(max);
  const out: Buffer[] = [];
  try {
    for await (const c of Readable.from(chunks).pipe(guard)) out.push(c as Buffer);
    return { bytes: Buffer.concat(out).length };
  } catch (e) {
    return { bytes: guard.bytes, error: (e as { code?: string }).code ?? String(e) };
  }
}

describe('the upload guard', () => {
  it('passes a PDF through unchanged, even when the header is split across chunks', async () => {
    const pdf = await makePdf(['Split header.']);
    const result = await pipeThroughGuard([pdf.subarray(0, 2), pdf.subarray(2, 3), pdf.subarray(3)], MAX);
    expect(result).toEqual({ bytes: pdf.length });
  });

  it('answers 413 as soon as the body passes the limit', async () => {
    const pdf = await makePdf(['x'], { padBytes: 10_000 });
    const result = await pipeThroughGuard(
      [pdf.subarray(0, 4000), pdf.subarray(4000, 8000), pdf.subarray(8000)],
      5000,
    );
    expect(result.error).toBe('payload_too_large');
    expect(result.bytes).toBe(8000);
  });

  it('refuses a body that is not a PDF, and an empty one', async () => {
    expect((await pipeThroughGuard([makePng()], MAX)).error).toBe('invalid_file_format');
    expect((await pipeThroughGuard([Buffer.from('%PD')], MAX)).error).toBe('invalid_file_format');
    expect((await pipeThroughGuard([], MAX)).error).toBe('empty_file');
  });
});
