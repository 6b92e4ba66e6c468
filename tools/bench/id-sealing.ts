/**
 * Micro-benchmark of caller-bound ids: one seal and one open, first time (a full HMAC) and repeated (from
 * memory), and the id walks over a typical create body, a `response.completed` event and a text delta, beside a
 * bare HMAC-SHA256 measured in the same run. CPU only, no I/O. Run after a build:
 * `node dist/tools/bench/id-sealing.js` (prints JSON; CPU nanoseconds per operation, median of 7 rounds).
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  configureIdSealing,
  createIdSealer,
  generateIdSealingKeyEntry,
  parseIdSealingKeys,
  sealId,
  type IdSealer,
} from '../../shared/platform/sealed-ids';
import { openRequestIds, sealResponseIds } from '../../shared/responses/id-fields';

const CALLER = 'key:bench-caller';
const hex = () => randomBytes(24).toString('hex');

/**
 * Median over `rounds` of the mean CPU time per call in ns (user + system, this process): on a shared machine
 * wall time counts the other processes' turns too. `make(i)` builds the inputs outside the timing.
 */
function measure<T>(n: number, make: (i: number) => T, run: (input: T) => void, rounds = 7): number {
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const inputs = Array.from({ length: n }, (_, i) => make(i));
    const t0 = process.cpuUsage();
    for (const input of inputs) run(input);
    const used = process.cpuUsage(t0);
    results.push(((used.user + used.system) * 1000) / n);
  }
  results.sort((a, b) => a - b);
  return Math.round(results[Math.floor(results.length / 2)]!);
}

/** A chained create: previous_response_id, an item_reference and an input_file, sealed by `sealer`. */
function createBody(sealer: IdSealer) {
  return {
    model: 'chat',
    previous_response_id: sealer.seal(CALLER, `resp_${hex()}`),
    input: [
      { role: 'user', content: [{ type: 'input_text', text: 'Summarize the attached report.' }] },
      { type: 'item_reference', id: sealer.seal(CALLER, `msg_${hex()}`) },
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'And this one.' },
          { type: 'input_file', file_id: sealer.seal(CALLER, `assistant-${hex().slice(0, 22)}`) },
        ],
      },
    ],
    tools: [
      {
        type: 'function',
        name: 'lookup',
        parameters: { type: 'object', properties: { order_id: { type: 'string' } } },
      },
    ],
    metadata: { ticket: 'T-1' },
  };
}

function completedEvent() {
  return {
    type: 'response.completed',
    sequence_number: 12,
    response: {
      id: `resp_${hex()}`,
      object: 'response',
      created_at: 1_700_000_000,
      status: 'completed',
      model: 'chat',
      previous_response_id: null,
      output: [
        { type: 'reasoning', id: `rs_${hex()}`, summary: [] },
        {
          type: 'message',
          id: `msg_${hex()}`,
          role: 'assistant',
          status: 'completed',
          content: [{ type: 'output_text', text: 'Hello there.', annotations: [], logprobs: [] }],
        },
      ],
      tools: [],
      usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
      metadata: {},
    },
  };
}

function main(): void {
  const keys = parseIdSealingKeys(generateIdSealingKeyEntry('k1'));
  configureIdSealing(keys);
  const module: IdSealer = { currentKid: 'k1', seal: sealId, open: () => undefined };
  // Another instance with the same keys: what it seals is new to this one (no memo), as after a scale-out.
  const elsewhere = createIdSealer(keys);
  const fresh = createIdSealer(keys);
  const n = 20_000;
  const itemId = `msg_${hex()}`;
  const secret = randomBytes(32);
  const results = {
    node: process.version,
    // The floor: one bare HMAC-SHA256 of a typical MAC input.
    hmacBaselineNs: measure(
      n,
      () => `2:k116:key:bench-callerresp_${hex()}`,
      (input) => void createHmac('sha256', secret).update(input).digest(),
    ),
    sealFirstNs: measure(
      n,
      () => `resp_${hex()}`,
      (id) => void fresh.seal(CALLER, id),
    ),
    openFirstNs: measure(
      n,
      () => elsewhere.seal(CALLER, `resp_${hex()}`),
      (id) => void fresh.open(CALLER, id),
    ),
    sealRepeatNs: measure(
      n,
      () => itemId,
      (id) => void fresh.seal(CALLER, id),
    ),
    openRepeatNs: (() => {
      const sealed = fresh.seal(CALLER, itemId);
      return measure(
        n,
        () => sealed,
        (id) => void fresh.open(CALLER, id),
      );
    })(),
    openCreateBodyFirstNs: measure(
      5_000,
      () => createBody(elsewhere),
      (body) => void openRequestIds(CALLER, body),
    ),
    // Few enough bodies that every id stays in memory between sealing and opening.
    openCreateBodyKnownIdsNs: measure(
      2_000,
      () => createBody(module),
      (body) => void openRequestIds(CALLER, body),
    ),
    sealCompletedEventNs: measure(5_000, completedEvent, (event) => void sealResponseIds(CALLER, event)),
    sealDeltaEventNs: measure(
      n,
      () => ({
        type: 'response.output_text.delta',
        sequence_number: 3,
        item_id: itemId,
        output_index: 0,
        content_index: 0,
        delta: 'lo',
        logprobs: [],
      }),
      (event) => void sealResponseIds(CALLER, event),
    ),
  };
  console.log(JSON.stringify(results, null, 2));
}

main();
