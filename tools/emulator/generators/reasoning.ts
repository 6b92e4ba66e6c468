import type { ResponseReasoningItem } from 'openai/resources/responses/responses';
import type { Reasoning } from 'openai/resources/shared';
import { newId } from '../ids';
import type { Sealer } from '../sealed';

/** A reasoning item; `encrypted_content` only when the request includes `reasoning.encrypted_content`. */
export function reasoningItem(
  responseId: string,
  about: string,
  reasoning: Reasoning | null | undefined,
  encrypted: boolean,
  sealer: Sealer,
): ResponseReasoningItem {
  const summary: ResponseReasoningItem['summary'] = reasoning?.summary
    ? [
        {
          type: 'summary_text',
          text: `**Considering the request**\n\nThe user wrote: "${about.slice(0, 200)}". I will answer it directly.`,
        },
      ]
    : [];
  return {
    id: newId('rs'),
    type: 'reasoning',
    summary,
    encrypted_content: encrypted
      ? sealer.seal({ k: 'reasoning', response: responseId, about: about.slice(0, 200) })
      : null,
  };
}

/** Reasoning tokens that grow with the question and the requested effort. */
export function reasoningTokens(about: string, reasoning: Reasoning | null | undefined): number {
  const factors: Record<string, number> = { none: 0, minimal: 0.5, low: 1, medium: 2, high: 4 };
  const factor = factors[reasoning?.effort ?? 'medium'] ?? 6;
  return Math.round((64 + Math.ceil(about.length / 4)) * factor);
}
