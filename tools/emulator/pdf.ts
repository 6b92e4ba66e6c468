import { extractText, getDocumentProxy } from 'unpdf';
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
  // pdf.js may transfer the buffer it is given; hand it a copy. The same pdf.js build as the gateway's (unpdf): two
  // pdf.js copies in one process (as in the integration tests) would pick up each other's in-process worker.
  let doc: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    doc = await getDocumentProxy(new Uint8Array(data), { verbosity: 0 });
  } catch {
    throw badRequest(`The file '${filename}' could not be parsed as a PDF.`, 'input', 'invalid_file_format');
  }
  try {
    const result = await extractText(doc, { mergePages: false });
    const text = result.text.join('\n').replace(/\s+/g, ' ').trim();
    return { text, pages: result.totalPages };
  } catch {
    throw badRequest(`The file '${filename}' could not be parsed as a PDF.`, 'input', 'invalid_file_format');
  } finally {
    await doc.loadingTask.destroy().catch(() => undefined);
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
