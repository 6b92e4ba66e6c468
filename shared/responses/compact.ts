/** Work derived from a conversation the caller owns: compaction and input token counts. */
import type OpenAI from 'openai';
import type { ResponseUsage } from 'openai/resources/responses/responses';
import type { Caller } from '../callers/auth';
import { admitCreate, settleTokens } from '../limits';
import { getOpenAI } from '../platform/clients';
import { badRequest } from '../platform/errors';
import type { Log } from '../platform/log';
import { entryOf, recordUsage } from '../usage/ledger';
import { openBodyIds, sealIds } from './ids';
import { withDeployment } from './upstream';
import { previousResponseId, resolveModel } from './validate';

/**
 * Compaction by input items or by `previous_response_id` (which must be the caller's). It runs the model, so it
 * counts against the caller's limits like a create; the answer carries the `x-ratelimit-*` headers.
 */
export async function compact(
  caller: Caller,
  body: Record<string, unknown>,
  log: Log,
): Promise<{ result: unknown; headers: Record<string, string> }> {
  const model = resolveModel(body);
  const prev = previousResponseId(body);
  openBodyIds(caller, body);
  if (body.input === undefined && !prev) {
    throw badRequest(
      "Give 'input' items or a 'previous_response_id' to compact.",
      'input',
      'missing_required_parameter',
    );
  }
  const { headers, reservation } = await admitCreate(caller.id, body, log);
  let compacted: Awaited<ReturnType<OpenAI['responses']['compact']>>;
  try {
    compacted = await withDeployment(model, () => getOpenAI().responses.compact({ ...body, model }));
  } catch (e) {
    settleTokens(reservation, null);
    throw e;
  }
  settleTokens(reservation, (compacted as { usage?: ResponseUsage }).usage);
  // Compaction runs the model: its tokens count like a response's.
  recordUsage(entryOf({ ...compacted, status: 'completed' }, caller.id, model, 'compaction'), log);
  return { result: sealIds(caller, compacted), headers };
}

/** Input token count of a would-be create (`POST /responses/input_tokens`). */
export async function countInputTokens(caller: Caller, body: Record<string, unknown>): Promise<unknown> {
  const model = resolveModel(body);
  previousResponseId(body);
  openBodyIds(caller, body);
  return withDeployment(model, () => getOpenAI().responses.inputTokens.count({ ...body, model }));
}
