/**
 * The checks a document passes before any token is spent. Each failure is a rejection with a stable code and
 * a sentence for the record; a rejection is a normal outcome, not an error.
 */
import { pdfParseSdk } from '../sdk';

export type RejectionCode = 'empty' | 'not_pdf' | 'too_large' | 'unreadable_pdf' | 'not_pdf_name';

export interface Rejection {
  code: RejectionCode;
  message: string;
}

export const REJECTION_MESSAGES: Record<RejectionCode, string> = {
  empty: 'The blob is empty.',
  not_pdf: "The blob is not a PDF: it does not start with '%PDF-'.",
  too_large: 'The blob is larger than DOCUMENT_MAX_BYTES.',
  unreadable_pdf: 'The blob starts like a PDF but cannot be parsed as one (truncated, damaged or encrypted).',
  not_pdf_name: "The blob name does not end in '.pdf'; only PDFs are summarized.",
};

export const reject = (code: RejectionCode, detail?: string): Rejection => ({
  code,
  message: detail ? `${REJECTION_MESSAGES[code]} ${detail}` : REJECTION_MESSAGES[code],
});

const MAGIC = Buffer.from('%PDF-', 'latin1');

/** True when `data` starts with the PDF header `%PDF-`. */
export const hasPdfHeader = (data: Uint8Array): boolean =>
  data.byteLength >= MAGIC.length && Buffer.compare(data.subarray(0, MAGIC.length), MAGIC) === 0;

/** Cheap checks on size and header (no parsing). `maxBytes` is DOCUMENT_MAX_BYTES. */
export function checkBytes(data: Uint8Array, maxBytes: number): Rejection | undefined {
  if (data.byteLength === 0) return reject('empty');
  if (data.byteLength > maxBytes) {
    return reject('too_large', `It has ${data.byteLength} bytes; the limit is ${maxBytes}.`);
  }
  if (!hasPdfHeader(data)) return reject('not_pdf');
  return undefined;
}

/**
 * Loads the PDF's structure (cross-reference table, catalog, page count) with pdf-parse. pdf-parse copies a
 * Buffer before handing it to pdf.js (which may take ownership of what it is given), so the caller's bytes stay
 * usable; that copy lives only until `destroy`. Returns the page count, or a rejection.
 */
export async function parsePdf(data: Buffer): Promise<{ pages: number } | Rejection> {
  const parser = new (pdfParseSdk().PDFParse)({ data });
  try {
    const info = await parser.getInfo();
    return { pages: info.total };
  } catch (e) {
    const name = (e as Error)?.name;
    return reject('unreadable_pdf', name === 'PasswordException' ? 'It is password-protected.' : undefined);
  } finally {
    await parser.destroy().catch(() => undefined);
  }
}

/** Every check, cheapest first. Undefined means the document may be summarized. */
export async function validatePdf(data: Buffer, maxBytes: number): Promise<Rejection | undefined> {
  const cheap = checkBytes(data, maxBytes);
  if (cheap) return cheap;
  const parsed = await parsePdf(data);
  return 'code' in parsed ? parsed : undefined;
}
