/**
 * The checks a document passes before any token is spent. Each failure is a rejection with a stable code and
 * a sentence for the record; a rejection is a normal outcome, not an error.
 */
import { pdfSdk } from '../platform/sdk';

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

/** Options of {@link parsePdf} and {@link validatePdf}. */
export interface ParseOptions {
  /**
   * The caller no longer needs `data` after the check: pdf.js is handed the Buffer's memory itself rather than a
   * copy of it, and `data` is left empty (its ArrayBuffer detached; `byteLength` 0) whatever the outcome. The
   * memory is released when the parser is destroyed, before this returns.
   */
  consume?: boolean;
}

/**
 * pdf.js moves the ArrayBuffer of the bytes it is given to its worker (a `postMessage` transfer, which detaches
 * it, also with the in-process worker Node uses), and its serverless build refuses a Buffer. So the caller's
 * bytes are copied into a Uint8Array of their own, unless the caller gives them up (`consume`) and they span a
 * whole ArrayBuffer: then that memory is taken as it is, no copy.
 */
function bytesForPdfJs(data: Buffer, consume: boolean): Uint8Array {
  const whole =
    data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
  return consume && whole ? new Uint8Array(data.buffer) : new Uint8Array(data);
}

/**
 * Loads the PDF's structure (cross-reference table, catalog, page count) with pdf.js, through unpdf's serverless
 * build. Without `consume`, pdf.js works on a copy of the bytes (see {@link bytesForPdfJs}), so the caller's
 * bytes stay usable; that copy lives only until `destroy`. Returns the page count, or a rejection.
 */
export async function parsePdf(
  data: Buffer,
  options: ParseOptions = {},
): Promise<{ pages: number } | Rejection> {
  let doc: Awaited<ReturnType<ReturnType<typeof pdfSdk>['getDocumentProxy']>>;
  try {
    // verbosity 0: errors only, not a warning per damaged object in the logs.
    const bytes = bytesForPdfJs(data, options.consume === true);
    doc = await pdfSdk().getDocumentProxy(bytes, { verbosity: 0 });
  } catch (e) {
    const name = (e as Error)?.name;
    return reject('unreadable_pdf', name === 'PasswordException' ? 'It is password-protected.' : undefined);
  }
  try {
    return { pages: doc.numPages };
  } finally {
    await doc.loadingTask.destroy().catch(() => undefined);
  }
}

/** Every check, cheapest first. Undefined means the document may be summarized. */
export async function validatePdf(
  data: Buffer,
  maxBytes: number,
  options: ParseOptions = {},
): Promise<Rejection | undefined> {
  const cheap = checkBytes(data, maxBytes);
  if (cheap) return cheap;
  const parsed = await parsePdf(data, options);
  return 'code' in parsed ? parsed : undefined;
}
