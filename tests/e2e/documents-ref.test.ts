/** A PDF in the caller's folder of `documents/` used as chat input by name. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type OpenAI from 'openai';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { startStack, type Stack } from './stack';

let stack: Stack;

beforeAll(async () => {
  // A low Files API threshold sends the larger PDF below through the Files API.
  stack = await startStack({ settings: { PDF_FILES_API_THRESHOLD_BYTES: '4000' } });
});

afterAll(async () => {
  await stack?.stop();
});

async function pdfWith(sentence: string, padding = 0): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  page.drawText(sentence, { x: 50, y: 700, size: 12, font });
  for (let i = 0; i < padding; i++)
    page.drawText(`filler line ${i} `.repeat(6), { x: 20, y: 680 - (i % 60) * 10, size: 6, font });
  return Buffer.from(await doc.save({ useObjectStreams: false }));
}

async function upload(key: string, name: string, pdf: Buffer): Promise<{ id: string; blob: string }> {
  const res = await fetch(`${stack.baseURL}/documents?filename=${name}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/pdf' },
    body: pdf,
  });
  expect(res.status).toBe(202);
  return (await res.json()) as { id: string; blob: string };
}

const ask = (client: OpenAI, ref: string) =>
  client.responses.create({
    model: 'gpt-4.1',
    input: [
      {
        role: 'user',
        content: [
          { type: 'input_file', file_id: ref },
          { type: 'input_text', text: 'Summarize this PDF' },
        ],
      },
    ],
  });

describe('documents referenced by name in a create', () => {
  it('sends a small PDF inline with the service’s own identity', async () => {
    const caller = await stack.newCaller('docref');
    const doc = await upload(caller.key, 'small.pdf', await pdfWith('Otters hold hands while they sleep.'));
    const response = await ask(caller.client, `documents/${doc.id}/small.pdf`);
    expect(response.output_text).toContain('Otters hold hands');
  });

  it('sends a large PDF through the Files API and deletes the upload afterwards', async () => {
    const caller = await stack.newCaller('docref-big');
    const pdf = await pdfWith('Glaciers carve fjords over millennia.', 200);
    expect(pdf.length).toBeGreaterThan(4000);
    const doc = await upload(caller.key, 'big.pdf', pdf);
    const before = await stack.emulatorStats();
    const response = await ask(caller.client, `documents/${doc.id}/big.pdf`);
    const after = await stack.emulatorStats();
    expect(response.output_text).toContain('Glaciers carve fjords');
    expect(after.requests['POST /files']).toBe((before.requests['POST /files'] ?? 0) + 1);
    expect(after.requests['DELETE /files/{id}']).toBe((before.requests['DELETE /files/{id}'] ?? 0) + 1);
  });

  it('cannot reach another caller’s document, or anything outside its own folder', async () => {
    const owner = await stack.newCaller('docowner');
    const other = await stack.newCaller('docother');
    const doc = await upload(owner.key, 'private.pdf', await pdfWith('Private figures.'));
    await expect(ask(other.client, `documents/${doc.id}/private.pdf`)).rejects.toMatchObject({ status: 400 });
    await expect(ask(other.client, `documents/../../${doc.blob}`)).rejects.toMatchObject({ status: 400 });
  });
});
