import { PDFParse } from 'pdf-parse';
import { badRequest } from './errors';

export interface PdfText {
  text: string;
  pages: number;
}

/** Extracts the text of a PDF; anything that is not a readable PDF is the service's 400. */
export async function extractPdfText(data: Buffer, filename: string): Promise<PdfText> {
  if (data.subarray(0, 5).toString('latin1') !== '%PDF-') {
    throw badRequest(
      `The file '${filename}' is not a valid PDF. Only PDF files are supported as input_file.`,
      'input',
      'invalid_file_format',
    );
  }
  // pdf.js may transfer the buffer it is given; hand it a copy.
  const parser = new PDFParse({ data: new Uint8Array(data) });
  try {
    const result = await parser.getText();
    const text = result.pages
      .map((page) => page.text)
      .join('\n')
      .replace(/\s+/g, ' ')
      .trim();
    return { text, pages: result.total };
  } catch {
    throw badRequest(`The file '${filename}' could not be parsed as a PDF.`, 'input', 'invalid_file_format');
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

/** The opening sentences of `text`, at most `maxChars` long, for a deterministic "summary". */
export function leadSentences(text: string, maxChars = 400): string {
  if (text.length <= maxChars) return text;
  const sentences = text.match(/[^.!?]+[.!?]+(\s|$)/g) ?? [];
  let out = '';
  for (const sentence of sentences) {
    if ((out + sentence).length > maxChars) break;
    out += sentence;
  }
  return (out || text.slice(0, maxChars)).trim();
}
