/** The documents feature's log lines: one JSON object per outcome, event `document`. */
import type { Log } from '../platform/log';

export const LOG_EVENT = 'document';

export function logDocument(logger: Log, fields: Record<string, unknown>): void {
  logger.log(JSON.stringify({ event: LOG_EVENT, ...fields }));
}
