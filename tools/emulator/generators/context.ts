import type {
  ResponseInputFile,
  ResponseInputImage,
  ResponseItem,
} from 'openai/resources/responses/responses';
import { badRequest } from '../errors';
import { isUserMessage, textOf } from '../input';
import { extractPdfText, type PdfText } from '../pdf';
import type { Sealer } from '../sealed';
import type { FileStore } from '../store';
import { PDF_PAGE_TOKENS, tokensOfText } from '../tokens';

/** What the emulated model "understands" of the conversation it is given. */
export interface ConversationView {
  /** Items after the latest compaction item (that item included): what the model reads. */
  items: ResponseItem[];
  /** Text of the latest user message, '' if none. */
  lastUserText: string;
  /** User turns before the latest one, counting those folded into a compaction item. */
  earlierTurns: number;
  /** Text of the conversation's first user message (possibly from a compaction item). */
  firstUserText: string | null;
  /** Encrypted reasoning items carried back in. */
  carriedReasoning: number;
}

export function viewOf(all: ResponseItem[], sealer: Sealer): ConversationView {
  let start = 0;
  let folded = 0;
  let first: string | null = null;
  for (let i = all.length - 1; i >= 0; i--) {
    const item = all[i];
    if (item?.type === 'compaction') {
      const payload = sealer.open(item.encrypted_content, 'input');
      if (payload.k === 'compaction') {
        folded = payload.turns;
        first = payload.first;
      }
      start = i;
      break;
    }
  }
  const items = all.slice(start);
  const userTexts = items.filter(isUserMessage).map(textOf);
  const lastUserText = userTexts.at(-1) ?? '';
  const earlier = userTexts.slice(0, -1);
  return {
    items,
    lastUserText,
    earlierTurns: folded + earlier.length,
    firstUserText: first ?? earlier[0] ?? null,
    carriedReasoning: items.filter(
      (i) => i.type === 'reasoning' && typeof i.encrypted_content === 'string' && i.encrypted_content,
    ).length,
  };
}

export interface ResolvedFile extends PdfText {
  filename: string;
  part: ResponseInputFile;
}

function decodeFileData(fileData: string): Buffer {
  const match = /^data:[^;,]*(;[^,]*)?,(.*)$/s.exec(fileData);
  if (match) {
    return (match[1] ?? '').includes('base64')
      ? Buffer.from(match[2] ?? '', 'base64')
      : Buffer.from(decodeURIComponent(match[2] ?? ''));
  }
  return Buffer.from(fileData, 'base64');
}

/**
 * Reads every `input_file` part of `items` (inline `file_data` or uploaded `file_id`) and extracts its text.
 * A file that is missing or not a readable PDF is a 400, like the service.
 */
export async function resolveFiles(
  items: ResponseItem[],
  files: FileStore,
): Promise<{ files: ResolvedFile[]; tokens: Map<object, number> }> {
  const resolved: ResolvedFile[] = [];
  const tokens = new Map<object, number>();
  for (const item of items) {
    if (item.type !== 'message') continue;
    for (const part of item.content as Array<{ type: string }>) {
      if (part.type !== 'input_file') continue;
      const file = part as ResponseInputFile;
      let pdf: PdfText;
      let filename = file.filename ?? 'document.pdf';
      if (file.file_id) {
        const record = files.get(file.file_id);
        if (!record) throw badRequest(`No file found with id '${file.file_id}'.`, 'input', 'file_not_found');
        filename = file.filename ?? record.object.filename;
        record.pdf ??= await extractPdfText(record.data, filename);
        pdf = record.pdf;
      } else if (file.file_data) {
        pdf = await extractPdfText(decodeFileData(file.file_data), filename);
      } else if (file.file_url) {
        // The emulator is offline: it never fetches URLs.
        pdf = { text: `(the file at ${file.file_url} was not fetched by the emulator)`, pages: 0 };
        filename = file.filename ?? file.file_url;
      } else {
        throw badRequest(
          "An input_file needs one of 'file_data', 'file_id' or 'file_url'.",
          'input',
          'missing_required_parameter',
        );
      }
      resolved.push({ ...pdf, filename, part: file });
      tokens.set(part, tokensOfText(pdf.text) + pdf.pages * PDF_PAGE_TOKENS);
    }
  }
  return { files: resolved, tokens };
}

/** One line per `input_image` part: its URL, or the kind and size of an inline image. */
export function describeImages(items: ResponseItem[]): string[] {
  const out: string[] = [];
  for (const item of items) {
    if (item.type !== 'message') continue;
    for (const part of item.content as Array<{ type: string }>) {
      if (part.type !== 'input_image') continue;
      const image = part as ResponseInputImage;
      const url = image.image_url ?? '';
      const inline = /^data:([^;,]+)[^,]*,(.*)$/s.exec(url);
      if (inline) {
        const bytes = Buffer.from(inline[2] ?? '', 'base64').length;
        out.push(`an inline ${inline[1] ?? 'image'} of ${bytes} bytes`);
      } else if (url) {
        out.push(url);
      } else if (image.file_id) {
        out.push(`file ${image.file_id}`);
      }
    }
  }
  return out;
}
