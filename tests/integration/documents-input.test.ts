/**
 * Files API uploads of PDFs (shared/documents/input.ts) against real storage (Azurite, a container of this
 * file's own) and the Responses API emulator over HTTP: what arrives upstream is the blob version, byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerClient } from '@azure/storage-blob';
import { getOpenAI } from '../../shared/platform/clients';
import { uploadPdf, uploadPdfFromBlob, uploadsFromStorage } from '../../shared/documents/input';
import { useDocumentStorageForTests } from '../../shared/documents/names';
import { processDocumentBlob } from '../../shared/documents/ingest';
import { readVersion } from '../../shared/documents/store';
import { container } from '../../shared/platform/storage';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';
import { makePdf, putBlob } from './documents-support';

const THRESHOLD = 20_000;

let env: JobsEnv;
let documents: ContainerClient;

beforeAll(async () => {
  env = await startJobsEnv({
    env: { DOCUMENT_MAX_BYTES: String(5_000_000), PDF_FILES_API_THRESHOLD_BYTES: String(THRESHOLD) },
  });
  const suffix = uniqueSuffix();
  useDocumentStorageForTests({
    documents: `docs-${suffix}`,
    summaries: `sums-${suffix}`,
    table: `documents${suffix}`,
  });
  documents = await container(`docs-${suffix}`);
});

afterAll(async () => {
  useDocumentStorageForTests();
  await env?.close();
});

/** What the Files API holds for `fileId`. */
async function uploaded(fileId: string): Promise<Buffer> {
  const content = await getOpenAI().files.content(fileId);
  return Buffer.from(await content.arrayBuffer());
}

describe('Files API uploads of documents', () => {
  it('send the blob version read from storage, byte for byte, under the given name', async () => {
    const pdf = await makePdf(['Streamed from storage.'], { padBytes: 3_000_000 });
    const name = `${uniqueSuffix()}/streamed.pdf`;
    const { etag } = await documents.getBlockBlobClient(name).uploadData(pdf);
    const fileId = await uploadPdfFromBlob(name, etag!, 'report.pdf');
    expect((await uploaded(fileId)).equals(pdf)).toBe(true);
    expect(await getOpenAI().files.retrieve(fileId)).toMatchObject({
      filename: 'report.pdf',
      bytes: pdf.length,
    });
  });

  it('refuse with 412 and upload nothing when the blob was replaced since the version was read', async () => {
    const name = `${uniqueSuffix()}/replaced.pdf`;
    const blob = documents.getBlockBlobClient(name);
    const { etag } = await blob.uploadData(await makePdf(['First version.']));
    await blob.uploadData(await makePdf(['Second version.']));
    const before = await env.upstreamCalls('POST /files');
    await expect(uploadPdfFromBlob(name, etag!, 'replaced.pdf')).rejects.toMatchObject({ statusCode: 412 });
    expect(await env.upstreamCalls('POST /files')).toBe(before);
  });

  it('send bytes held in memory unchanged, streamed or through the SDK with retries', async () => {
    const pdf = await makePdf(['Held in memory.'], { padBytes: 100_000 });
    expect((await uploaded(await uploadPdf(pdf, 'streamed.pdf', 0))).equals(pdf)).toBe(true);
    expect((await uploaded(await uploadPdf(pdf, 'replayable.pdf'))).equals(pdf)).toBe(true);
  });

  it('read from storage only above the threshold and for an ETag storage issued', () => {
    expect(uploadsFromStorage({ bytes: 101, etag: '"0x8DC"' }, 100)).toBe(true);
    expect(uploadsFromStorage({ bytes: 100, etag: '"0x8DC"' }, 100)).toBe(false);
    expect(uploadsFromStorage({ bytes: 101, etag: '"sha256-abc"' }, 100)).toBe(false);
  });
});

/** Uploads `data` as `name` and returns the delivery the trigger would get for this version. */
const put = (name: string, data: Buffer) => putBlob(documents, name, data);

describe('a delivery above the Files API threshold', () => {
  it('hands its bytes to the parser and uploads the whole version from storage', async () => {
    const pdf = await makePdf(['A large document read twice.'], { padBytes: THRESHOLD * 5 });
    const copy = Buffer.from(pdf);
    const name = `${uniqueSuffix()}/large.pdf`;
    const delivery = await put(name, pdf);
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({
      outcome: 'submitted',
      input: 'file_id',
    });
    expect(delivery.data.byteLength).toBe(0);
    const row = await readVersion(name);
    expect((await uploaded(row!.fileId!)).equals(copy)).toBe(true);
  });

  it('uploads nothing and frees the claim for the retry when the blob was replaced after the trigger read it', async () => {
    const name = `${uniqueSuffix()}/replaced.pdf`;
    const delivery = await put(name, await makePdf(['Old version.'], { padBytes: THRESHOLD * 2 }));
    await documents
      .getBlockBlobClient(name)
      .uploadData(await makePdf(['New version.'], { padBytes: THRESHOLD * 2 }));
    const before = await env.upstreamCalls('POST /files');
    await expect(processDocumentBlob(delivery, env.log)).rejects.toMatchObject({ statusCode: 412 });
    expect(await env.upstreamCalls('POST /files')).toBe(before);
    expect(await readVersion(name)).toMatchObject({ sourceEtag: delivery.etag, state: 'released' });
  });
});
