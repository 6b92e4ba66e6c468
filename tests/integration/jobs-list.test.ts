import { withErrors } from '../../shared/platform/handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpRequest, InvocationContext, type HttpResponseInit } from '@azure/functions';
import type { Response } from 'openai/resources/responses/responses';
import { jobsList } from '../../functions/jobs-list';
import type { Caller } from '../../shared/callers/auth';
import { createKey } from '../../shared/callers/keys';
import { recordCancel, trackBackgroundJob, type JobList } from '../../shared/jobs';
import { startJobsEnv, uniqueSuffix, type JobsEnv } from './support/jobs-env';

let env: JobsEnv;
let key: string;
let caller: Caller;
const ids: string[] = [];

const fakeResponse = (id: string, createdAt: number, status: Response['status'] = 'queued') =>
  ({
    id,
    object: 'response',
    status,
    created_at: createdAt,
    output: [],
    model: 'gpt-4.1',
  }) as unknown as Response;

beforeAll(async () => {
  env = await startJobsEnv();
  const name = `lister-${uniqueSuffix()}`;
  key = await createKey(name);
  caller = { id: `key:${name}`, source: 'key', name };
  const base = Math.floor(Date.now() / 1000) - 100;
  for (let i = 0; i < 5; i++) {
    const id = `resp_list_${uniqueSuffix()}_${i}`;
    ids.push(id);
    await trackBackgroundJob({
      caller,
      response: fakeResponse(id, base + i),
      kind: i === 4 ? 'document' : 'response',
      deployment: 'gpt-4.1',
    });
  }
  // One ended: cancelled by its caller.
  await recordCancel(ids[1]!, fakeResponse(ids[1]!, base + 1, 'cancelled'), env.log);
});

afterAll(async () => {
  await env.close();
});

/** A list, or an OpenAI-shaped error. */
type Answer = JobList & { error: { param: string | null; type: string } };

async function get(query: string, apiKey = key) {
  const request = new HttpRequest({
    method: 'GET',
    url: `http://localhost/api/v1/jobs${query}`,
    headers: { authorization: `Bearer ${apiKey}` },
  });
  const res = await withErrors(jobsList)(request, new InvocationContext({ functionName: 'jobs-list' }));
  return { status: res.status, body: (res as HttpResponseInit).jsonBody as Answer };
}

describe('GET /api/v1/jobs', () => {
  it("lists the caller's jobs newest first in OpenAI's list shape, page by page", async () => {
    const page1 = await get('?limit=2');
    expect(page1.status).toBe(200);
    expect(page1.body).toMatchObject({ object: 'list', has_more: true, first_id: ids[4], last_id: ids[3] });
    expect(page1.body.data.map((j) => j.id)).toEqual([ids[4], ids[3]]);

    const page2 = await get(`?limit=2&after=${page1.body.last_id}`);
    expect(page2.body.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(page2.body.has_more).toBe(true);

    const page3 = await get(`?limit=2&after=${page2.body.last_id}`);
    expect(page3.body.data.map((j) => j.id)).toEqual([ids[0]]);
    expect(page3.body.has_more).toBe(false);
  });

  it('filters by status and kind', async () => {
    const cancelled = await get('?status=cancelled');
    expect(cancelled.body.data.map((j) => j.id)).toEqual([ids[1]]);
    expect(cancelled.body.data[0]).toMatchObject({ status: 'cancelled', object: 'background_job' });
    const queued = await get('?status=queued&kind=response');
    expect(queued.body.data.map((j) => j.id)).toEqual([ids[3], ids[2], ids[0]]);
    const documents = await get('?kind=document');
    expect(documents.body.data.map((j) => j.id)).toEqual([ids[4]]);
  });

  it("shows nothing of another caller's jobs", async () => {
    const otherKey = await createKey(`other-${uniqueSuffix()}`);
    const other = await get('', otherKey);
    expect(other.body).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
    const cursor = await get(`?after=${ids[2]}`, otherKey);
    expect(cursor.status).toBe(400);
    expect(cursor.body.error.param).toBe('after');
  });

  it('refuses bad parameters and missing credentials with OpenAI-shaped errors', async () => {
    expect((await get('?status=done')).body.error).toMatchObject({
      param: 'status',
      type: 'invalid_request_error',
    });
    expect((await get('?limit=0')).status).toBe(400);
    expect((await get('?kind=image')).status).toBe(400);
    expect((await get('?after=../x')).status).toBe(400);
    expect((await get('', 'rgw_not-a-key')).status).toBe(401);
  });
});
