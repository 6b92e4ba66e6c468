/**
 * A PDF as Responses API input: inline as a `file_data` data URI, or, above PDF_FILES_API_THRESHOLD_BYTES,
 * uploaded through the Files API (`purpose: "assistants"`, the only purpose Azure OpenAI accepts for PDFs) and
 * referenced by `file_id`. Same rule as `shared/responses/documents-ref.ts` uses for the chat path.
 */
import { openaiUploads } from '../sdk';
import type { ResponseInputFile } from 'openai/resources/responses/responses';
import { getOpenAI } from '../clients';

/** How a PDF of `bytes` bytes is sent, given the threshold in bytes. */
export const inputModeFor = (bytes: number, thresholdBytes: number): 'file_data' | 'file_id' =>
  bytes > thresholdBytes ? 'file_id' : 'file_data';

/**
 * The inline part. The base64 text is made once from `data` (no intermediate copy of the bytes); the SDK then
 * serializes it into the request body.
 */
export function inlinePdfPart(data: Buffer, filename: string): ResponseInputFile {
  return {
    type: 'input_file',
    filename,
    file_data: `data:application/pdf;base64,${data.toString('base64')}`,
  };
}

export const fileIdPart = (fileId: string): ResponseInputFile => ({ type: 'input_file', file_id: fileId });

/**
 * Uploads a PDF to the Files API and returns the file id. The SDK builds one in-memory `File` from `data` (one
 * copy, released when the upload ends). `maxRetries` as the SDK option (0: the caller retries).
 */
export async function uploadPdf(data: Buffer, filename: string, maxRetries?: number): Promise<string> {
  const file = await getOpenAI().files.create(
    {
      file: await openaiUploads().toFile(data, filename, { type: 'application/pdf' }),
      purpose: 'assistants',
    },
    maxRetries === undefined ? undefined : { maxRetries },
  );
  return file.id;
}
