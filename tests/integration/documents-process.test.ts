/**
 * The blob-trigger path against real storage (Azurite, containers and table of this file's own) and the
 * Responses API emulator: validation, version claims, the crash window, finalization through the real poller.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerClient } from '@azure/storage-blob';
import { getOpenAI } from '../../shared/platform/clients';
import { resetConfigForTests } from '../../shared/platform/config';
import { runPollerTick } from '../../shared/jobs';
import { scheduleDueTask } from '../../shared/platform/scheduling/due-tasks';
import { storageNames } from '../../shared/platform/storage-names';
import { blobKey } from '../../shared/documents/naming';
import { useDocumentStorageForTests } from '../../shared/documents/names';
import { finalizeDocument } from '../../shared/documents/finalize';
import { leaseMs, processDocumentBlob } from '../../shared/documents/ingest';
import { registerDocumentTasks } from '../../shared/documents/tasks';
import { CLAIM_RECOVERY_TASK } from '../../shared/documents/names';
import { readRecord, readSummary, type SummaryRecord } from '../../shared/documents/records';
import { claimVersion, readVersion, updateVersion } from '../../shared/documents/store';
import { container, table } from '../../shared/platform/storage';
import { dueKeysIn, startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';
import { makePdf, putBlob, rejectionCorpus, waitFor } from './documents-support';

const MAX_BYTES = 200_000;
const THRESHOLD = 20_000;

let env: JobsEnv;
let documents: ContainerClient;
let summaries: ContainerClient;

beforeAll(async () => {
  env = await startJobsEnv({
    env: { DOCUMENT_MAX_BYTES: String(MAX_BYTES), PDF_FILES_API_THRESHOLD_BYTES: String(THRESHOLD) },
  });
  const suffix = uniqueSuffix();
  useDocumentStorageForTests({
    documents: `docs-${suffix}`,
    summaries: `sums-${suffix}`,
    table: `documents${suffix}`,
  });
  documents = await container(`docs-${suffix}`);
  summaries = await container(`sums-${suffix}`);
  registerDocumentTasks();
});

afterAll(async () => {
  useDocumentStorageForTests();
  await env?.close();
});

// An injected fault a failing test did not use up must not hit the next test's upstream call.
afterEach(async () => {
  await env?.clearFaults();
});

/** Uploads `data` as `name` and returns the delivery the trigger would get for this version. */
const put = (name: string, data: Buffer) => putBlob(documents, name, data);

const creates = () => env.upstreamCalls('POST /responses');

/** Keys of the claim-recovery rows scheduled for blob `name`. */
async function recoveryRows(name: string): Promise<string[]> {
  const suffix = `_${CLAIM_RECOVERY_TASK}:${blobKey(name)}`;
  return (await dueKeysIn(await table(storageNames().jobs))).filter((key) => key.endsWith(suffix));
}

/** Runs poller ticks until the record of `recordBlob` reaches a final status for `etag`. */
async function finalized(recordBlob: string, etag: string): Promise<SummaryRecord> {
  return waitFor(
    `the record ${recordBlob} to be final`,
    async () => {
      await runPollerTick({ log: env.log });
      const current = await readRecord(recordBlob);
      return current && current.record.source.etag === etag && current.record.status !== 'processing'
        ? current.record
        : undefined;
    },
    20_000,
    () => env.lines.slice(-20).join('\n'),
  );
}

describe('documents dropped into storage', () => {
  it('get a summary quoting the PDF and a completed record naming the version', async () => {
    const name = `${uniqueSuffix()}/reports/q1.pdf`;
    const pdf = await makePdf([
      'Quarterly revenue grew by forty-two percent.',
      'The board approved the plan.',
    ]);
    const delivery = await put(name, pdf);
    const outcome = await processDocumentBlob(delivery, env.log);
    expect(outcome).toMatchObject({ outcome: 'submitted', reused: false, input: 'file_data' });

    const base = name.slice(0, -4);
    const processing = await readRecord(`${base}.json`);
    expect(processing?.record).toMatchObject({
      status: 'processing',
      response_id: (outcome as { responseId: string }).responseId,
    });

    const record = await finalized(`${base}.json`, delivery.etag);
    expect(record).toMatchObject({
      object: 'document.record',
      status: 'completed',
      error: null,
      summary_blob: `${base}.md`,
      deployment: 'gpt-4.1-mini',
      input: 'file_data',
      document_id: null,
      source: { name, etag: delivery.etag, bytes: pdf.length },
    });
    expect(record.usage?.input_tokens).toBeGreaterThan(0);
    expect(Date.parse(record.completed_at!)).toBeGreaterThanOrEqual(Date.parse(record.received_at));
    expect(await readSummary(`${base}.md`)).toContain('Quarterly revenue grew by forty-two percent.');
    const md = await summaries.getBlockBlobClient(`${base}.md`).getProperties();
    expect(md.contentType).toMatch(/^text\/markdown/);
    expect(md.metadata?.sourceetag).toBe(delivery.etag);
    // The upload itself is untouched.
    expect((await documents.getBlockBlobClient(name).downloadToBuffer()).equals(pdf)).toBe(true);
  });

  it('make one upstream response when the same version is delivered several times, even at once', async () => {
    const name = `${uniqueSuffix()}/dup.pdf`;
    const delivery = await put(name, await makePdf(['Delivered more than once.']));
    const before = await creates();
    const outcomes = await Promise.all([1, 2, 3].map(() => processDocumentBlob(delivery, env.log)));
    const later = await processDocumentBlob(delivery, env.log);
    expect(outcomes.filter((o) => o.outcome === 'submitted')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'duplicate')).toHaveLength(2);
    expect(later).toMatchObject({ outcome: 'duplicate', state: 'tracked' });
    expect((await creates()) - before).toBe(1);
  });

  it('reuse the response id a crashed delivery recorded instead of creating another', async () => {
    const name = `${uniqueSuffix()}/crash.pdf`;
    const delivery = await put(name, await makePdf(['The first attempt died after the create.']));
    // What a delivery that crashed right after recording the create leaves behind.
    const claim = await claimVersion(delivery, 60_000);
    expect(claim.kind).toBe('claimed');
    const orphan = await env.createBackground({ purpose: 'document_summary' });
    await updateVersion(claim.kind === 'claimed' ? claim.row : (undefined as never), {
      responseId: orphan.id,
      state: 'released',
      leaseUntil: 0,
    });
    const before = await creates();
    const outcome = await processDocumentBlob(delivery, env.log);
    expect(outcome).toMatchObject({ outcome: 'submitted', responseId: orphan.id, reused: true });
    expect(await creates()).toBe(before);
    expect((await readVersion(name))?.state).toBe('tracked');
  });

  it('take over a claim whose delivery crashed before recording anything, once its lease ran out', async () => {
    const name = `${uniqueSuffix()}/stale-claim.pdf`;
    const delivery = await put(name, await makePdf(['Claimed, then the instance vanished.']));
    await claimVersion(delivery, 60_000, Date.now() - 120_000);
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({
      outcome: 'submitted',
      reused: false,
    });
  });

  it('leave a live claim of another delivery alone', async () => {
    const name = `${uniqueSuffix()}/live-claim.pdf`;
    const delivery = await put(name, await makePdf(['Someone else is on it.']));
    await claimVersion(delivery, 60_000);
    const before = await creates();
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({
      outcome: 'duplicate',
      state: 'claimed',
    });
    expect(await creates()).toBe(before);
  });

  it('finish a version whose delivery died holding the claim, once the lease has run out', async () => {
    const name = `${uniqueSuffix()}/died.pdf`;
    const delivery = await put(name, await makePdf(['The host was killed mid-delivery.']));
    const lease = leaseMs();
    // What a delivery leaves behind when it is killed right after claiming: its recovery row and a live claim.
    const key = await scheduleDueTask(CLAIM_RECOVERY_TASK, blobKey(name), Date.now() + lease);
    await claimVersion(delivery, lease);
    // A redelivery during the lease stands down: as far as it can tell, someone is working on it.
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({ outcome: 'duplicate' });
    const before = await creates();

    // Before the lease ends the recovery row is not due; after it, the poller drives the delivery again.
    const early = await runPollerTick({ log: env.log });
    expect(early.tasks).toBe(0);
    expect(await recoveryRows(name)).toEqual([key]);
    const late = await runPollerTick({ log: env.log, now: Date.now() + lease + 1000 });
    expect(late.tasks).toBe(1);
    expect((await readVersion(name))?.state).toBe('tracked');
    expect((await creates()) - before).toBe(1);
    expect(await recoveryRows(name)).toEqual([]);

    const record = await finalized(name.replace(/\.pdf$/, '.json'), delivery.etag);
    expect(record.status).toBe('completed');
    expect(await readSummary(name.replace(/\.pdf$/, '.md'))).toContain('The host was killed mid-delivery.');
  });

  it('finish a version released by a failing delivery after the platform has given up retrying', async () => {
    const name = `${uniqueSuffix()}/gave-up.pdf`;
    const delivery = await put(name, await makePdf(['Every platform retry failed.']));
    await env.fault({ kind: '500', route: '/responses', method: 'POST', count: 1 });
    await expect(processDocumentBlob(delivery, env.log)).rejects.toThrow();
    expect((await readVersion(name))?.state).toBe('released');
    // No further delivery comes (the blob extension moved it to poison); the recovery row is what is left.
    expect(await recoveryRows(name)).toHaveLength(1);
    const tick = await runPollerTick({ log: env.log, now: Date.now() + leaseMs() + 1000 });
    expect(tick.tasks).toBe(1);
    const record = await finalized(name.replace(/\.pdf$/, '.json'), delivery.etag);
    expect(record.status).toBe('completed');
  });

  it('leave no recovery row behind once a delivery settles, and skip rows of settled versions', async () => {
    const name = `${uniqueSuffix()}/settled.pdf`;
    const delivery = await put(name, await makePdf(['Nothing to recover.']));
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({ outcome: 'submitted' });
    expect(await recoveryRows(name)).toEqual([]);
    // A leftover row (its delete failed) finds the version settled and does nothing.
    await scheduleDueTask(CLAIM_RECOVERY_TASK, blobKey(name), Date.now() - 1);
    const before = await creates();
    const tick = await runPollerTick({ log: env.log });
    expect(tick.tasks).toBe(0);
    expect(await recoveryRows(name)).toEqual([]);
    expect(await creates()).toBe(before);
  });

  it('fail the document when its blob was deleted before the recovery came due', async () => {
    const name = `${uniqueSuffix()}/deleted.pdf`;
    const delivery = await put(name, await makePdf(['Gone before anyone summarized it.']));
    await scheduleDueTask(CLAIM_RECOVERY_TASK, blobKey(name), Date.now() - 1);
    await claimVersion(delivery, 60_000, Date.now() - 120_000);
    await documents.deleteBlob(name);
    const tick = await runPollerTick({ log: env.log });
    expect(tick.tasks).toBe(1);
    expect((await readVersion(name))?.state).toBe('failed');
    expect(env.lines.some((l) => l.includes('recovery_source_gone') && l.includes(name))).toBe(true);
  });

  it('release the claim on a transient upstream failure so the platform retry goes through', async () => {
    const name = `${uniqueSuffix()}/transient.pdf`;
    const delivery = await put(name, await makePdf(['Upstream hiccup.']));
    await env.fault({ kind: '500', route: '/responses', method: 'POST', count: 1 });
    await expect(processDocumentBlob(delivery, env.log)).rejects.toThrow();
    expect((await readVersion(name))?.state).toBe('released');
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({ outcome: 'submitted' });
  });

  it('record a permanent upstream refusal as failed instead of retrying it', async () => {
    const name = `${uniqueSuffix()}/refused.pdf`;
    const delivery = await put(name, await makePdf(['Nobody serves this deployment.']));
    process.env.AZURE_OPENAI_SUMMARY_DEPLOYMENT = 'missing-deployment';
    resetConfigForTests();
    try {
      const outcome = await processDocumentBlob(delivery, env.log);
      expect(outcome).toMatchObject({ outcome: 'failed', error: { code: 'deployment_not_found' } });
    } finally {
      process.env.AZURE_OPENAI_SUMMARY_DEPLOYMENT = 'gpt-4.1-mini';
      resetConfigForTests();
    }
    const record = (await readRecord(name.replace(/\.pdf$/, '.json')))!.record;
    expect(record).toMatchObject({
      status: 'failed',
      error: { code: 'deployment_not_found' },
      summary_blob: null,
    });
    expect(await processDocumentBlob(delivery, env.log)).toMatchObject({
      outcome: 'duplicate',
      state: 'failed',
    });
  });

  it('reject the bad ones before any token is spent, record why, and keep the blobs', async () => {
    const prefix = uniqueSuffix();
    const before = await creates();
    for (const item of await rejectionCorpus(MAX_BYTES + 1)) {
      const name = `${prefix}/${item.name}`;
      const outcome = await processDocumentBlob(await put(name, item.data), env.log);
      expect(outcome, item.name).toMatchObject({ outcome: 'rejected', rejection: { code: item.code } });
      const recordName = name.endsWith('.pdf') ? `${name.slice(0, -4)}.json` : `${name}.json`;
      const record = (await readRecord(recordName))?.record;
      expect(record, item.name).toMatchObject({
        status: 'rejected',
        error: { code: item.code },
        response_id: null,
      });
      expect(record?.error?.message.length).toBeGreaterThan(10);
      expect((await documents.getBlockBlobClient(name).getProperties()).contentLength).toBe(item.data.length);
    }
    expect(await creates()).toBe(before);
    expect(await env.upstreamCalls('POST /files')).toBe(0);
  });

  it('ignore names that cannot be mapped safely to summary names', async () => {
    const outcome = await processDocumentBlob(
      { name: 'a//b.pdf', data: await makePdf(['x']), etag: '"x"', lastModified: Date.now(), bytes: 1 },
      env.log,
    );
    expect(outcome.outcome).toBe('ignored');
  });

  it('replace the summary when a new version is uploaded, and never let the old job overwrite it', async () => {
    const name = `${uniqueSuffix()}/versions.pdf`;
    const base = name.slice(0, -4);
    const v1 = await put(name, await makePdf(['Version one says the sky is green.']));
    await processDocumentBlob(v1, env.log);
    await finalized(`${base}.json`, v1.etag);
    expect(await readSummary(`${base}.md`)).toContain('Version one');

    const v2 = await put(name, await makePdf(['Version two says the sky is blue.']));
    expect(v2.etag).not.toBe(v1.etag);
    expect(await processDocumentBlob(v2, env.log)).toMatchObject({ outcome: 'submitted' });
    const record = await finalized(`${base}.json`, v2.etag);
    expect(record.source.etag).toBe(v2.etag);
    const summary = await readSummary(`${base}.md`);
    expect(summary).toContain('Version two');
    expect(summary).not.toContain('Version one');

    // A late event for the old version is stale; a late finalization of its job writes nothing.
    expect(await processDocumentBlob(v1, env.log)).toMatchObject({ outcome: 'ignored' });
    const late = await finalizeDocument({
      job: { responseId: 'resp_old', deployment: 'gpt-4.1-mini', createdAt: Date.now() } as never,
      status: 'completed',
      response: undefined,
      extra: { blobName: name, sourceEtag: v1.etag, lastModified: String(v1.lastModified), bytes: '1' },
      log: env.log,
    });
    expect(late).toMatchObject({
      eventType: 'document.failed',
      eventData: { error: { code: 'superseded' } },
    });
    expect(await readSummary(`${base}.md`)).toContain('Version two');
    expect((await readRecord(`${base}.json`))?.record.source.etag).toBe(v2.etag);
  });

  it('remove the old summary when a new version is rejected', async () => {
    const name = `${uniqueSuffix()}/then-broken.pdf`;
    const base = name.slice(0, -4);
    const v1 = await put(name, await makePdf(['A good first version.']));
    await processDocumentBlob(v1, env.log);
    await finalized(`${base}.json`, v1.etag);
    const v2 = await put(name, Buffer.from('not a pdf any more'));
    expect(await processDocumentBlob(v2, env.log)).toMatchObject({ outcome: 'rejected' });
    expect((await readRecord(`${base}.json`))?.record).toMatchObject({
      status: 'rejected',
      source: { etag: v2.etag },
    });
    expect(await readSummary(`${base}.md`)).toBeUndefined();
  });

  it('send PDFs above the threshold through the Files API and delete the file when the job ends', async () => {
    const name = `${uniqueSuffix()}/large.pdf`;
    const pdf = await makePdf(['A large document travels by file id.'], { padBytes: THRESHOLD + 5_000 });
    expect(pdf.length).toBeGreaterThan(THRESHOLD);
    const delivery = await put(name, pdf);
    const uploads = await env.upstreamCalls('POST /files');
    const outcome = await processDocumentBlob(delivery, env.log);
    expect(outcome).toMatchObject({ outcome: 'submitted', input: 'file_id' });
    expect((await env.upstreamCalls('POST /files')) - uploads).toBe(1);
    const fileId = (await readVersion(name))!.fileId!;
    expect(fileId).toBeTruthy();

    const record = await finalized(`${name.slice(0, -4)}.json`, delivery.etag);
    expect(record).toMatchObject({ status: 'completed', input: 'file_id' });
    expect(await readSummary(`${name.slice(0, -4)}.md`)).toContain('A large document travels by file id.');
    await expect(getOpenAI().files.retrieve(fileId)).rejects.toMatchObject({ status: 404 });
  });
});
