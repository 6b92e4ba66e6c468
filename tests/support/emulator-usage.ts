/**
 * Reads the emulator's billing (`GET /_emulator/usage`, tools/emulator/README.md): what the upstream charged,
 * response by response, filed under the safety identifier the gateway sent for the caller. Tests hold the
 * gateway's usage ledger to it.
 */
import { safetyIdentifier } from '../../shared/callers/safety';

export interface BilledTotals {
  requests: number;
  input: number;
  cached: number;
  output: number;
}

export interface BilledResponse extends BilledTotals {
  status: string;
}

interface Counts {
  input_tokens: number;
  cached_tokens: number;
  output_tokens: number;
}

async function readUsage(emulatorUrl: string, callerId: string | undefined, apiKey: string) {
  const url = new URL('/_emulator/usage', emulatorUrl);
  if (callerId) url.searchParams.set('safety_identifier', safetyIdentifier({ id: callerId }));
  const res = await fetch(url, { headers: { 'api-key': apiKey } });
  if (!res.ok) throw new Error(`GET /_emulator/usage: ${res.status} ${await res.text()}`);
  return (await res.json()) as {
    totals: Counts & { responses: number };
    responses: (Counts & { id: string; status: string })[];
  };
}

/** What the emulator billed to one caller (its safety identifier), responses still running left out. */
export async function billedTotals(
  emulatorUrl: string,
  callerId: string,
  apiKey = 'emulator-key',
): Promise<BilledTotals> {
  const { totals } = await readUsage(emulatorUrl, callerId, apiKey);
  return {
    requests: totals.responses,
    input: totals.input_tokens,
    cached: totals.cached_tokens,
    output: totals.output_tokens,
  };
}

/** The emulator's billing by response id (only `callerId`'s when given). */
export async function billedResponses(
  emulatorUrl: string,
  callerId?: string,
  apiKey = 'emulator-key',
): Promise<Map<string, BilledResponse>> {
  const { responses } = await readUsage(emulatorUrl, callerId, apiKey);
  return new Map(
    responses.map((r) => [
      r.id,
      {
        requests: 1,
        input: r.input_tokens,
        cached: r.cached_tokens,
        output: r.output_tokens,
        status: r.status,
      },
    ]),
  );
}
