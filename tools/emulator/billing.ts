/**
 * What the emulator billed: each response's usage as it reported it when the response stopped (completed,
 * failed, incomplete, cancelled, abandoned by a closed stream), and each compaction's. `GET /_emulator/usage`
 * answers it, so a test can hold the gateway's usage ledger against the upstream's own count.
 */
import type { Response } from 'openai/resources/responses/responses';
import type { BilledResponse } from './context';

type Billable = Pick<Response, 'id' | 'model' | 'usage'> & {
  status?: string | null;
  safety_identifier?: string | null;
};

export function billOf(response: Billable, kind: BilledResponse['kind']): BilledResponse {
  const usage = response.usage;
  return {
    id: response.id,
    kind,
    model: response.model ?? '',
    status: response.status ?? 'completed',
    safety_identifier: response.safety_identifier ?? null,
    input_tokens: usage?.input_tokens ?? 0,
    cached_tokens: usage?.input_tokens_details?.cached_tokens ?? 0,
    output_tokens: usage?.output_tokens ?? 0,
    reasoning_tokens: usage?.output_tokens_details?.reasoning_tokens ?? 0,
  };
}
