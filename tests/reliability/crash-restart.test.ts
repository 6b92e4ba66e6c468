/**
 * Crash and restart: the host is killed with SIGKILL at random moments while background jobs and document
 * summaries are in flight, and started again each time. (full: 500 jobs, 20 documents.)
 *
 * Every job the caller got an id for reaches one terminal state with one finalization; every document gets one
 * job and one summary; webhooks arrive at least once, each job's under one stable event id. A finalization cut
 * short by a kill is resumed by the next host once its lease (FINALIZE_LEASE_MS, 120 s) has run out, and a
 * document whose delivery was killed holding its claim is recovered by the poller when the claim's lease (100 s
 * with the settings below) runs out, so the waits below are longer than those.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { makePdf } from '../integration/documents-support';
import { FINALIZE_LEASE_MS } from '../../shared/jobs/claim';
import {
  SIZES,
  crashLines,
  finalizationsById,
  ledgerRows,
  pool,
  raw,
  readJobs,
  report,
  sleep,
  startReliabilityStack,
  upstreamBills,
  upstreamIdOf,
  waitForFinalized,
  type Caller,
  type ReliabilityStack,
} from './support';
import { seededRandom } from '../support/random';

let stack: ReliabilityStack;
let caller: Caller;

beforeAll(async () => {
  stack = await startReliabilityStack({
    watchBlobs: true,
    settings: {
      PDF_FILES_API_THRESHOLD_BYTES: '20000',
      // A document claim's lease is 2 × timeout × (retries + 1) + 60 s: 100 s here, so a claim whose delivery was
      // killed is recovered by the poller within the wait below (the emulator answers in milliseconds).
      AZURE_OPENAI_TIMEOUT_MS: '10000',
      AZURE_OPENAI_MAX_RETRIES: '1',
    },
  });
  caller = await stack.newCaller('crash');
});

afterAll(async () => {
  await stack?.stop();
});

describe('the host killed at random points', () => {
  it(
    'ends every job and document once, and delivers every webhook with a stable id',
    { timeout: 900_000 },
    async () => {
      const { crashJobs: jobs, crashDocuments: documents, crashKills: kills } = SIZES;
      const seed = Number(process.env.RELIABILITY_SEED ?? Date.now() % 100_000);
      const rand = seededRandom(seed);
      const started = Date.now();
      const base = stack.baseURL();
      const headers = { authorization: `Bearer ${caller.key}` };
      const jobIds: string[] = [];
      const documentIds: string[] = [];
      let refused = 0;
      let keysStuck = 0;
      let lostInFlight = 0;
      let killed = 0;
      let creating = true;

      // The killer: SIGKILL at random moments while work is being submitted and processed, then restart.
      const killer = (async () => {
        while (killed < kills) {
          // The first kill lands while work is still being submitted, the others while it is processed.
          await sleep(killed === 0 ? 500 + rand() * 1500 : 1500 + rand() * 4000);
          stack.kill();
          killed++;
          await sleep(rand() * 1000);
          await stack.restart();
          if (!creating && killed >= kills) break;
        }
      })();

      const pdfs = await Promise.all(
        Array.from({ length: documents }, (_, i) =>
          makePdf([`Document ${i} of the crash test.`, 'It should be summarized exactly once.'], {
            // Every other one goes through the Files API.
            padBytes: i % 2 ? 30_000 : undefined,
          }),
        ),
      );
      const submit = async (i: number) => {
        const isDocument = i < documents;
        let keyGeneration = 0;
        for (let attempt = 0; attempt < 40; attempt++) {
          try {
            const res = isDocument
              ? await raw(`${base}/documents?filename=crash-${i}.pdf`, {
                  method: 'POST',
                  headers: { ...headers, 'content-type': 'application/pdf' },
                  body: pdfs[i],
                })
              : await raw(`${base}/responses`, {
                  method: 'POST',
                  // The same key on every retry: a create the host finished before it died is answered again
                  // instead of being made twice.
                  headers: {
                    ...headers,
                    'content-type': 'application/json',
                    'idempotency-key': `crash-${seed}-${i}-${keyGeneration}`,
                  },
                  body: JSON.stringify({
                    model: 'gpt-4.1',
                    input: `Crash job ${i}.`,
                    background: true,
                    metadata: { emulator_duration_ms: String(1000 + ((i * 7919) % 6000)) },
                  }),
                });
            if (res.status === 200 || res.status === 202) {
              (isDocument ? documentIds : jobIds).push((res.json as { id: string }).id);
              return;
            }
            refused++;
            if (res.status === 409) {
              // The key's first request died with the host; its claim only goes stale after STALE_CLAIM_MS
              // (11 min, above the function timeout). A caller that cannot wait tries again under a new key.
              keysStuck++;
              keyGeneration++;
            }
          } catch {
            // The host died under the request: the caller has no id, so nothing was promised.
            lostInFlight++;
          }
          await sleep(300);
        }
        throw new Error(`submission ${i} never got through`);
      };
      await pool(documents + jobs, 8, submit);
      creating = false;
      await killer;

      const submittedAt = Date.now();
      const rows = await waitForFinalized(jobIds, FINALIZE_LEASE_MS + 90_000);
      const waitedForJobs = (Date.now() - submittedAt) / 1000;
      const unfinished = [...rows]
        .filter(([, j]) => j?.phase !== 'finalized')
        .map(([id, j]) => `${id}: ${j?.phase}`);
      const finalizations = finalizationsById(stack.logs());
      const twice = jobIds.filter((id) => (finalizations.get(id) ?? 0) > 1);

      // Documents: each completed, with one response and its summary written.
      const docDeadline = submittedAt + FINALIZE_LEASE_MS + 90_000;
      const docViews = new Map<
        string,
        { status: string; response_id: string | null; summary_blob: string | null }
      >();
      for (const id of documentIds) {
        for (;;) {
          const res = await raw(`${base}/documents/${id}`, { headers });
          const view = res.json as {
            status: string;
            response_id: string | null;
            summary_blob: string | null;
          };
          if (['completed', 'failed', 'rejected'].includes(view.status) || Date.now() > docDeadline) {
            docViews.set(id, view);
            break;
          }
          await sleep(1000);
        }
      }
      const summaries = BlobServiceClient.fromConnectionString(
        stack.storageConnectionString,
      ).getContainerClient('summaries');
      const docProblems: string[] = [];
      for (const [id, view] of docViews) {
        if (view.status !== 'completed') docProblems.push(`${id}: ${view.status}`);
        else if (
          !view.summary_blob ||
          !(await summaries.getBlockBlobClient(view.summary_blob.replace(/^summaries\//, '')).exists())
        )
          docProblems.push(`${id}: no summary blob`);
      }
      const documentJobs = await raw(`${base}/jobs?kind=document&limit=100`, { headers });
      const docJobIds = (documentJobs.json as { data: Array<{ id: string; status: string }> }).data.map(
        (j) => j.id,
      );
      // A document's view says `completed` from finalization step 1; its job row says `finalized` at the last
      // step, which a kill in between leaves to the lease takeover: the same deadline as the other jobs.
      const docRows = await waitForFinalized(docJobIds, Math.max(10_000, docDeadline - Date.now()));
      const docTwice = docJobIds.filter((id) => (finalizations.get(id) ?? 0) > 1);

      // Webhooks: at least once, one event id per job, the job's final status.
      const deadline = Date.now() + 60_000;
      // A document's event is about the document (data.id) and names its response (data.response_id).
      const eventsFor = (id: string) =>
        stack.deliveries.filter((d) => d.event.data.id === id || d.event.data.response_id === id);
      while ([...jobIds, ...docJobIds].some((id) => eventsFor(id).length === 0) && Date.now() < deadline)
        await sleep(500);
      const webhookProblems: string[] = [];
      let redelivered = 0;
      for (const id of [...jobIds, ...docJobIds]) {
        const events = eventsFor(id);
        const ids = new Set(events.map((d) => d.event.id));
        if (events.length > 1) redelivered++;
        if (events.length === 0) webhookProblems.push(`${id}: no delivery`);
        else if (ids.size !== 1) webhookProblems.push(`${id}: ${ids.size} different event ids`);
        else if (rows.has(id) && events[0]!.event.data.status !== rows.get(id)?.status)
          webhookProblems.push(`${id}: event ${events[0]!.event.data.status}, job ${rows.get(id)?.status}`);
      }
      // The ledger: one row per job the service tracked (documents included), each exactly as the upstream
      // billed it; nothing counted twice across kills and re-run finalizations.
      const ledger = await ledgerRows(caller);
      const bills = await upstreamBills(stack);
      const tracked = new Set([...jobIds, ...docJobIds].map(upstreamIdOf));
      const ledgerProblems: string[] = [];
      for (const id of tracked) {
        const row = ledger.get(id);
        if (!row) ledgerProblems.push(`${id}: not in the ledger`);
        else {
          const { status: _status, ...billed } = bills.get(id) ?? { status: 'absent' };
          if (!isDeepStrictEqual(row, billed))
            ledgerProblems.push(`${id}: ledger ${JSON.stringify(row)}, upstream ${JSON.stringify(billed)}`);
        }
      }
      // A row the caller holds no id for is a job whose create the host finished but died before answering: it
      // ran and was billed, so it counts, as long as the service tracked it (its job row) and billed as upstream did.
      const untracked = [...ledger.keys()].filter((id) => !tracked.has(id));
      const untrackedJobs = await readJobs(untracked);
      for (const id of untracked) {
        const { status: _status, ...billed } = bills.get(id) ?? { status: 'absent' };
        if (untrackedJobs.get(id)?.phase !== 'finalized')
          ledgerProblems.push(`${id}: counted, no finalized job`);
        else if (!isDeepStrictEqual(ledger.get(id), billed))
          ledgerProblems.push(
            `${id}: ledger ${JSON.stringify(ledger.get(id))}, upstream ${JSON.stringify(billed)}`,
          );
      }
      const stats = await stack.emulatorStats();
      report('crash-restart', {
        seed,
        kills: killed,
        jobsAccepted: jobIds.length,
        documentsAccepted: documentIds.length,
        documentJobs: docJobIds.length,
        orphanDocumentJobs: docJobIds.length - documentIds.length,
        refused,
        keysStuck,
        lostInFlight,
        jobStatuses: [...rows.values()].reduce<Record<string, number>>(
          (acc, j) => ((acc[j?.status ?? 'missing'] = (acc[j?.status ?? 'missing'] ?? 0) + 1), acc),
          {},
        ),
        finalizationLogLines: [...jobIds, ...docJobIds].reduce(
          (n, id) => n + (finalizations.get(id) ?? 0),
          0,
        ),
        deliveries: stack.deliveries.length,
        redelivered,
        upstreamCreates: stats.requests['POST /responses'],
        ledgerRows: ledger.size,
        ledgerRowsOfUnansweredCreates: untracked.length,
        // Created upstream by a host that died before it could track them: the caller got no id.
        upstreamUnobserved: [...bills.keys()].filter((id) => !tracked.has(id)).length,
        waitedForJobs,
        seconds: (Date.now() - started) / 1000,
      });

      expect(killed).toBe(kills);
      expect(jobIds.length).toBe(jobs);
      expect(documentIds.length).toBe(documents);
      expect(unfinished).toEqual([]);
      expect(twice).toEqual([]);
      expect(docProblems).toEqual([]);
      // One response per accepted document, each among the caller's document jobs. An upload the host committed
      // but died before answering is not lost either: it is summarized too (its document is in the caller's
      // list), so there can be more document jobs than accepted uploads, never more than the cut-off requests.
      const acceptedResponses = [...docViews.values()].map((v) => v.response_id);
      expect(new Set(acceptedResponses).size).toBe(documents);
      expect(acceptedResponses.filter((id) => !id || !docJobIds.includes(id))).toEqual([]);
      expect(docJobIds.length - documents).toBeLessThanOrEqual(lostInFlight);
      expect([...docRows.values()].every((j) => j?.phase === 'finalized')).toBe(true);
      expect(docTwice).toEqual([]);
      expect(webhookProblems).toEqual([]);
      expect(ledgerProblems).toEqual([]);
      expect(crashLines(stack.logs())).toEqual([]);
    },
  );
});
