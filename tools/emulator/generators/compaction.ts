import type { ResponseCompactionItem, ResponseItem } from 'openai/resources/responses/responses';
import { newId } from '../ids';
import type { Sealer } from '../sealed';
import type { ConversationView } from './context';

/** A compaction item standing for every turn of `view` (earlier compactions included). */
export function compactionItem(
  view: ConversationView,
  items: ResponseItem[],
  sealer: Sealer,
): ResponseCompactionItem {
  const turns = view.earlierTurns + (view.lastUserText ? 1 : 0);
  return {
    id: newId('cmp'),
    type: 'compaction',
    encrypted_content: sealer.seal({
      k: 'compaction',
      turns,
      first: view.firstUserText ?? (view.lastUserText || null),
      items: items.length,
    }),
  };
}
