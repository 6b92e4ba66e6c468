/**
 * Tokens a create is charged before it runs: its input estimated at 4 characters a token, plus
 * `max_output_tokens` when given. The charge is corrected with the response's actual usage once it ends, so the
 * estimate only has to be right enough for the requests in flight.
 *
 * Why not a real tokenizer (gpt-tokenizer, js-tiktoken): the check must stay well under 0.1 ms per create, and a
 * BPE encoder costs microseconds per hundred characters, so a 100 kB prompt would cost milliseconds; it also
 * loads a multi-megabyte rank table (cold start), and it cannot count what the service never sees as text anyway
 * (a `previous_response_id`'s conversation, images, PDFs, tool output added upstream). Counting characters is
 * O(number of strings): a string's length is known without reading it.
 */

/** OpenAI's rule of thumb for English text. */
const CHARS_PER_TOKEN = 4;
/** An inline image or file (a `data:` URL or base64 `file_data`): its bytes say little about its tokens. */
const INLINE_DATA_TOKENS = 1_000;
/** Deeper than this the walk stops counting (request bodies nest far less; validation caps nesting at 128). */
const MAX_DEPTH = 32;

/** Characters of text in a JSON value: string lengths, inline data counted as a fixed amount. */
function chars(value: unknown, depth: number): number {
  if (typeof value === 'string') {
    return value.startsWith('data:') ? INLINE_DATA_TOKENS * CHARS_PER_TOKEN : value.length;
  }
  if (depth > MAX_DEPTH || typeof value !== 'object' || value === null) return 0;
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += chars(item, depth + 1);
    return total;
  }
  for (const key in value) {
    const v = (value as Record<string, unknown>)[key];
    total += key === 'file_data' ? INLINE_DATA_TOKENS * CHARS_PER_TOKEN : chars(v, depth + 1);
  }
  return total;
}

/** Estimated tokens of a create body: input, instructions and tool definitions, plus `max_output_tokens`. */
export function estimateTokens(body: Record<string, unknown>): number {
  const text = chars(body.input, 0) + chars(body.instructions, 0) + chars(body.tools, 0);
  const output = typeof body.max_output_tokens === 'number' ? Math.max(0, body.max_output_tokens) : 0;
  return Math.ceil(text / CHARS_PER_TOKEN) + Math.floor(output);
}
