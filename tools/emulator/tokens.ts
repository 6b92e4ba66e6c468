import type { ResponseItem } from 'openai/resources/responses/responses';

/** Roughly one token per four characters, like English text under the GPT tokenizers. */
export function tokensOfText(text: string): number {
  return Math.ceil(text.length / 4);
}

/** What an image costs (OpenAI's base tile price for `low`, one 512px tile set otherwise). */
const IMAGE_TOKENS = { low: 85, other: 765 } as const;
/** Per-page image tokens the service adds for each PDF page it renders. */
export const PDF_PAGE_TOKENS = 258;

/**
 * Estimated input tokens of items. `fileTokens` gives the tokens of each `input_file` part already resolved
 * (extracted text plus page images), keyed by the part object.
 */
export function tokensOfItems(items: ResponseItem[], fileTokens: Map<object, number> = new Map()): number {
  let total = 0;
  for (const item of items) {
    total += 4;
    if (item.type === 'message') {
      for (const part of item.content as Array<Record<string, unknown> & { type: string }>) {
        if (part.type === 'input_text' || part.type === 'output_text')
          total += tokensOfText(typeof part.text === 'string' ? part.text : '');
        else if (part.type === 'input_image')
          total += part.detail === 'low' ? IMAGE_TOKENS.low : IMAGE_TOKENS.other;
        else if (part.type === 'input_file') total += fileTokens.get(part) ?? 500;
        else if (part.type === 'refusal')
          total += tokensOfText(typeof part.refusal === 'string' ? part.refusal : '');
      }
    } else if (item.type === 'compaction' || item.type === 'reasoning') {
      // Opaque carried state is cheap compared with the turns it stands for.
      total +=
        32 +
        Math.ceil(
          ('encrypted_content' in item && item.encrypted_content ? item.encrypted_content.length : 0) / 64,
        );
    } else {
      total += tokensOfText(JSON.stringify(item));
    }
  }
  return total;
}
