/**
 * Storage outage: a dedicated Azurite (the run's shared one is untouched) is stopped for 20 seconds and started
 * again on the same data and ports. Synchronous and streamed creates, retrieves and input items keep answering
 * (they need no storage once the caller's key is cached); requests that need storage fail with 503 and a message
 * that says storage is the problem; background jobs accepted before it are all finalized after it; the poller
 * resumes by itself.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type AzuriteInstance } from '../support/azurite';
import {
  SIZES,
  crashLines,
  isOpenAIError,
  raw,
  report,
  sleep,
  startReliabilityStack,
  waitForFinalized,
  type Caller,
  type ReliabilityStack,
} from './support';

let azurite: AzuriteInstance;
let location: string;
let ports: [number, number, number];
let stack: ReliabilityStack;
let caller: Caller;

beforeAll(async () => {
  location = mkdtempSync(join(tmpdir(), 'outage-azurite-'));
  azurite = await startAzurite({ location });
  ports = [azurite.blobPort, azurite.queuePort, azurite.tablePort];
  stack = await startReliabilityStack({ storageConnectionString: azurite.connectionString });
  caller = await stack.newCaller('outage');
});

afterAll(async () => {
  await stack?.stop();
  await azurite?.stop();
});

describe('Azurite stopped for 20 seconds', () => {
  it('answers 503 during the outage, loses nothing accepted before it, and the poller resumes', async () => {
    const base = stack.baseURL();
    const headers = { authorization: `Bearer ${caller.key}`, 'content-type': 'application/json' };
    // Jobs that are still running when storage goes away and end while it is away.
    const jobIds: string[] = [];
    for (let i = 0; i < 12; i++) {
      const res = await raw(`${base}/responses`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          model: 'gpt-4.1',
          input: `Before the outage ${i}.`,
          background: true,
          metadata: { emulator_duration_ms: String(3000 + i * 1500) },
        }),
      });
      expect(res.status).toBe(200);
      jobIds.push((res.json as { id: string }).id);
    }
    const synced = (
      (
        await raw(`${base}/responses`, {
          method: 'POST',
          headers,
          body: JSON.stringify({ model: 'gpt-4.1', input: 'Before the outage, synchronous.' }),
        })
      ).json as { id: string }
    ).id;
    const statsBefore = (await stack.emulatorStats()).requests;
    const createsBefore = statsBefore['POST /responses'] ?? 0;
    const deletesBefore = statsBefore['DELETE /responses/{id}'] ?? 0;

    azurite.process.kill('SIGTERM');
    await new Promise((r) => azurite.process.once('exit', r));
    const outageStarted = Date.now();
    const answers: Array<{ what: string; status: number; ms: number; problem?: string }> = [];
    // The synchronous path needs no storage once the caller's key is cached (ids are sealed, not recorded): it
    // keeps answering. What keeps state of its own (background jobs, lists, documents) says storage is down.
    const NEEDS_NO_STORAGE = new Set(['create', 'create streamed', 'retrieve', 'input items']);
    const probes: Array<[string, () => Promise<Awaited<ReturnType<typeof raw>>>]> = [
      [
        'create',
        () =>
          raw(`${base}/responses`, { method: 'POST', headers, body: JSON.stringify({ input: 'During.' }) }),
      ],
      [
        'create streamed',
        () =>
          raw(`${base}/responses`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ input: 'During, streamed.', stream: true }),
          }),
      ],
      ['retrieve', () => raw(`${base}/responses/${synced}`, { headers })],
      ['input items', () => raw(`${base}/responses/${synced}/input_items`, { headers })],
      [
        'create background',
        () =>
          raw(`${base}/responses`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ input: 'During, background.', background: true }),
          }),
      ],
      ['cancel', () => raw(`${base}/responses/${jobIds.at(-1)}/cancel`, { method: 'POST', headers })],
      ['jobs', () => raw(`${base}/jobs`, { headers })],
      ['documents', () => raw(`${base}/documents`, { headers })],
    ];
    let k = 0;
    while (Date.now() - outageStarted < SIZES.outageMs - 3000) {
      const [what, probe] = probes[k++ % probes.length]!;
      const t0 = Date.now();
      const res = await probe();
      const answer: { what: string; status: number; ms: number; problem?: string } = {
        what,
        status: res.status,
        ms: Date.now() - t0,
      };
      if (NEEDS_NO_STORAGE.has(what)) {
        if (res.status !== 200) answer.problem = `status ${res.status}: ${res.text.slice(0, 200)}`;
        else if (what === 'create streamed' && !res.text.includes('event: response.completed'))
          answer.problem = `stream did not complete: ${res.text.slice(-200)}`;
      } else if (res.status !== 503) answer.problem = `status ${res.status}: ${res.text.slice(0, 200)}`;
      else if (!isOpenAIError(res.json)) answer.problem = `not OpenAI-shaped: ${res.text.slice(0, 200)}`;
      else if (!/storage/i.test((res.json as { error: { message: string } }).error.message))
        answer.problem = `message does not name storage: ${res.text.slice(0, 200)}`;
      answers.push(answer);
    }
    const health = await raw(`${stack.hostUrl()}/api/health`);
    const waitLeft = SIZES.outageMs - (Date.now() - outageStarted);
    if (waitLeft > 0) await sleep(waitLeft);
    const statsDuring = (await stack.emulatorStats()).requests;
    const createsDuring = (statsDuring['POST /responses'] ?? 0) - createsBefore;
    // A background create that reached upstream but could not record its job is deleted there again; the
    // synchronous ones answered normally.
    const syncCreates = answers.filter(
      (a) => a.what.startsWith('create') && a.what !== 'create background',
    ).length;
    const deletesDuring = (statsDuring['DELETE /responses/{id}'] ?? 0) - deletesBefore;

    const restarted = await startAzurite({ location, ports });
    azurite = restarted;
    const outageSeconds = (Date.now() - outageStarted) / 1000;

    // Nothing accepted before is lost: every job ends, and the poller got there on its own.
    const resumedAt = Date.now();
    const rows = await waitForFinalized(jobIds, 90_000);
    const unfinished = [...rows]
      .filter(([, j]) => j?.phase !== 'finalized')
      .map(([id, j]) => `${id}: ${j?.phase}`);
    const after = await raw(`${base}/responses`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ model: 'gpt-4.1', input: 'After the outage.' }),
    });
    const stillThere = await raw(`${base}/responses/${synced}`, { headers });
    const deadline = Date.now() + 30_000;
    while (
      jobIds.some((id) => !stack.deliveries.some((d) => d.event.data.id === id)) &&
      Date.now() < deadline
    )
      await sleep(500);
    const undelivered = jobIds.filter((id) => !stack.deliveries.some((d) => d.event.data.id === id));

    const ms = answers.map((a) => a.ms).sort((a, b) => a - b);
    report('storage-outage', {
      outageSeconds,
      requestsDuringOutage: answers.length,
      statuses: answers.reduce<Record<string, number>>(
        (acc, a) => ((acc[a.status] = (acc[a.status] ?? 0) + 1), acc),
        {},
      ),
      answerMsP50: ms[Math.floor(ms.length / 2)],
      answerMsMax: ms.at(-1),
      upstreamCreatesDuringOutage: createsDuring,
      upstreamDeletesDuringOutage: deletesDuring,
      answeredWithoutStorage: answers.filter((a) => NEEDS_NO_STORAGE.has(a.what) && a.status === 200).length,
      healthDuringOutage: health.status,
      jobsBefore: jobIds.length,
      jobsFinalizedAfter: jobIds.length - unfinished.length,
      secondsToFinalizeAllAfterRestart: (Date.now() - resumedAt) / 1000,
      webhooksUndelivered: undelivered.length,
    });
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.filter((a) => a.problem).map((a) => `${a.what}: ${a.problem}`)).toEqual([]);
    expect(health.status).toBe(503);
    expect(unfinished).toEqual([]);
    expect(after.status).toBe(200);
    expect(stillThere.status).toBe(200);
    expect(undelivered).toEqual([]);
    expect(deletesDuring).toBe(createsDuring - syncCreates);
    expect(stack.hostAlive()).toBe(true);
    expect(crashLines(stack.logs())).toEqual([]);
  });
});
