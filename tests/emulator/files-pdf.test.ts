import OpenAI, { toFile } from 'openai';
import { PDFDocument, StandardFonts } from 'pdf-lib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, expectSchemaClean, type Harness } from './support';

let h: Harness;
let pdf: Buffer;
const SENTENCE = 'The quarterly revenue of Contoso grew by 42 percent in Oslo.';

async function makePdf(lines: string[][]): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const pageLines of lines) {
    const page = doc.addPage();
    pageLines.forEach((line, i) => page.drawText(line, { x: 50, y: 700 - i * 20, size: 12, font }));
  }
  return Buffer.from(await doc.save());
}

beforeAll(async () => {
  h = await startHarness();
  pdf = await makePdf([[SENTENCE], ['Page two says hello.']]);
});

afterEach(async () => {
  await expectSchemaClean(h);
});

afterAll(async () => {
  await h.emulator.close();
});

describe('files', () => {
  it('uploads with purpose assistants, reads the file back and deletes it', async () => {
    const file = await h.client.files.create({
      file: await toFile(pdf, 'report.pdf', { type: 'application/pdf' }),
      purpose: 'assistants',
    });
    expect(file).toMatchObject({
      object: 'file',
      filename: 'report.pdf',
      purpose: 'assistants',
      bytes: pdf.length,
      status: 'processed',
    });
    expect(file.id).toMatch(/^file-/);

    expect(await h.client.files.retrieve(file.id)).toEqual(file);
    const content = await h.client.files.content(file.id);
    expect(Buffer.from(await content.arrayBuffer())).toEqual(pdf);

    expect(await h.client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    await expect(h.client.files.retrieve(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(h.client.files.delete(file.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('refuses purpose user_data like Azure does', async () => {
    const error = await h.client.files
      .create({ file: await toFile(pdf, 'report.pdf'), purpose: 'user_data' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain("'assistants'");
  });

  it('also answers the how-to upload path without /v1', async () => {
    const form = new FormData();
    form.append('purpose', 'assistants');
    form.append('file', new Blob([pdf]), 'legacy.pdf');
    const res = await fetch(`${h.emulator.url}/openai/files`, {
      method: 'POST',
      headers: { 'api-key': 'emulator-key' },
      body: form,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ filename: 'legacy.pdf' });
  });
});

describe('PDF input', () => {
  it('summarizes an inline PDF from its real text', async () => {
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [
        {
          role: 'user',
          content: [
            {
              type: 'input_file',
              filename: 'report.pdf',
              file_data: `data:application/pdf;base64,${pdf.toString('base64')}`,
            },
            { type: 'input_text', text: 'Summarize this PDF.' },
          ],
        },
      ],
    });
    expect(response.output_text).toContain(`Summary of report.pdf (2 pages): ${SENTENCE}`);
    expect(response.usage!.input_tokens).toBeGreaterThan(2 * 258);
  });

  it('summarizes an uploaded PDF referenced by file_id', async () => {
    const file = await h.client.files.create({
      file: await toFile(pdf, 'nucleus_sampling.pdf'),
      purpose: 'assistants',
    });
    const response = await h.client.responses.create({
      model: 'gpt-4.1',
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_file', file_id: file.id },
            { type: 'input_text', text: 'Summarize this PDF.' },
          ],
        },
      ],
    });
    expect(response.output_text).toContain('Summary of nucleus_sampling.pdf (2 pages)');
    expect(response.output_text).toContain('grew by 42 percent in Oslo');
  });

  it('refuses a file that is not a readable PDF with 400', async () => {
    const broken = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from('garbage that is not a pdf body')]);
    for (const data of [broken, Buffer.from('plain text')]) {
      const error = await h.client.responses
        .create({
          model: 'gpt-4.1',
          input: [
            {
              role: 'user',
              content: [
                {
                  type: 'input_file',
                  filename: 'bad.pdf',
                  file_data: `data:application/pdf;base64,${data.toString('base64')}`,
                },
              ],
            },
          ],
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      expect((error as Error).message).toContain('bad.pdf');
    }
  });

  it('refuses an unknown file_id with 400', async () => {
    await expect(
      h.client.responses.create({
        model: 'gpt-4.1',
        input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-nope' }] }],
      }),
    ).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
});
