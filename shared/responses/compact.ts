/** Work derived from a conversation the caller owns: compaction and input token counts. */
import type { Caller } from '../callers/auth';
import { assertOwned } from '../callers/ownership';
import { getOpenAI } from '../platform/clients';
import { badRequest } from '../platform/errors';
import { withDeployment } from './upstream';
import { previousResponseId, resolveModel } from './validate';

/** Compaction by input items or by `previous_response_id` (which must be the caller's). */
export async function compact(caller: Caller, body: Record<string, unknown>): Promise<unknown> {
  const model = resolveModel(body);
  const prev = previousResponseId(body);
  if (prev) await assertOwned(caller, prev, 'previous_response_id');
  if (body.input === undefined && !prev) {
    throw badRequest(
      "Give 'input' items or a 'previous_response_id' to compact.",
      'input',
      'missing_required_parameter',
    );
  }
  return withDeployment(model, () => getOpenAI().responses.compact({ ...body, model }));
}

/** Input token count of a would-be create (`POST /responses/input_tokens`). */
export async function countInputTokens(caller: Caller, body: Record<string, unknown>): Promise<unknown> {
  const model = resolveModel(body);
  const prev = previousResponseId(body);
  if (prev) await assertOwned(caller, prev, 'previous_response_id');
  return withDeployment(model, () => getOpenAI().responses.inputTokens.count({ ...body, model }));
}
