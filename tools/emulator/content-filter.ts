/**
 * Azure's content filtering, triggered deterministically: a marker word in the prompt, or in what the model
 * would answer (answers quote the user, so a marker in the question reaches the answer), or a `content_filter`
 * fault. Real filtering is a classifier; tests need a switch.
 */
import type { ResponseItem, ResponseOutputItem } from 'openai/resources/responses/responses';
import { textOf } from './input';

/** In a user/system/developer message or the instructions: the prompt is refused with 400 `content_filter`. */
export const PROMPT_FILTER_MARKER = 'emulator-filter-prompt';
/** In the answer: the completion is cut before the marker and ends `incomplete` (`content_filter`). */
export const COMPLETION_FILTER_MARKER = 'emulator-filter-completion';

export function promptHasFilterMarker(items: ResponseItem[], instructions: unknown): boolean {
  const texts = items.map(textOf);
  if (typeof instructions === 'string') texts.push(instructions);
  return texts.some((t) => t.toLowerCase().includes(PROMPT_FILTER_MARKER));
}

/**
 * The output as the filter leaves it, or undefined when nothing is filtered: the first message carrying the
 * marker (any message when `forced`) is cut before it, marked incomplete, and nothing after it is kept.
 */
export function filterCompletion(
  output: ResponseOutputItem[],
  forced: boolean,
): ResponseOutputItem[] | undefined {
  const index = output.findIndex(
    (item) =>
      item.type === 'message' &&
      item.content.some(
        (c) =>
          c.type === 'output_text' && (forced || c.text.toLowerCase().includes(COMPLETION_FILTER_MARKER)),
      ),
  );
  const item = output[index];
  if (!item || item.type !== 'message') return undefined;
  const content = item.content.map((c) => {
    if (c.type !== 'output_text') return c;
    const at = c.text.toLowerCase().indexOf(COMPLETION_FILTER_MARKER);
    const cut = at >= 0 ? at : Math.floor(c.text.length / 2);
    return { ...c, text: c.text.slice(0, cut).trimEnd(), annotations: [] };
  });
  return [...output.slice(0, index), { ...item, status: 'incomplete', content }];
}
