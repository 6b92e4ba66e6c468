/**
 * `GET /api/v1/usage`: a caller's own usage in the shape of OpenAI's Usage API (`GET /v1/organization/usage/
 * completions`): a `page` of `bucket`s, each with `organization.usage.completions.result`s. The ledger keeps
 * hours, so `bucket_width` is `1h` or `1d` (OpenAI's `1m` has nothing to draw on) and `group_by` is `model`
 * (the deployment the response was sent to, which is what Azure calls the model) or nothing.
 *
 * Reads only the caller's partitions of the page's hours: one range query, never another caller's rows.
 */
import type { Caller } from '../callers/auth';
import { badRequest } from '../platform/errors';
import { odata } from '../platform/sdk';
import { storageNames } from '../platform/storage-names';
import { table } from '../platform/storage';
import { hourKey } from './ledger';
import type { UsageRow } from './types';

export type BucketWidth = '1h' | '1d';

export interface UsageQuery {
  /** Unix seconds, inclusive; aligned down to the bucket width. */
  startTime: number;
  /** Unix seconds, exclusive. */
  endTime: number;
  bucketWidth: BucketWidth;
  groupByModel: boolean;
  /** Buckets per page. */
  limit: number;
  /** Start of this page's first bucket (from `page`), else the aligned start. */
  pageStart: number;
}

export interface UsageResult {
  object: 'organization.usage.completions.result';
  input_tokens: number;
  input_cached_tokens: number;
  input_uncached_tokens: number;
  output_tokens: number;
  num_model_requests: number;
  /** The deployment when grouped by `model`, else null (as OpenAI answers fields it did not group by). */
  model: string | null;
}

export interface UsageBucket {
  object: 'bucket';
  start_time: number;
  end_time: number;
  results: UsageResult[];
}

export interface UsagePage {
  object: 'page';
  data: UsageBucket[];
  has_more: boolean;
  next_page: string | null;
}

const WIDTH_S: Record<BucketWidth, number> = { '1h': 3600, '1d': 86_400 };
/** OpenAI's defaults and maxima of `limit` per width. */
const LIMITS: Record<BucketWidth, { default: number; max: number }> = {
  '1h': { default: 24, max: 168 },
  '1d': { default: 7, max: 31 },
};

type Query = { get(name: string): string | null; getAll?(name: string): string[] };

function unixSeconds(raw: string | null, param: string): number | undefined {
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,12}$/.test(raw))
    throw badRequest(
      `'${param}' must be a Unix time in seconds (an integer); got '${raw}'.`,
      param,
      'invalid_value',
    );
  return Number(raw);
}

/** Parses and checks the query string; every problem is a 400 naming its parameter. */
export function parseUsageQuery(query: Query, now = Date.now()): UsageQuery {
  const start = unixSeconds(query.get('start_time'), 'start_time');
  if (start === undefined)
    throw badRequest(
      "Missing required parameter: 'start_time' (Unix seconds).",
      'start_time',
      'missing_required_parameter',
    );
  const nowS = Math.ceil(now / 1000);
  const end = unixSeconds(query.get('end_time'), 'end_time') ?? nowS;
  if (end <= start)
    throw badRequest("'end_time' must be later than 'start_time'.", 'end_time', 'invalid_value');
  const width = query.get('bucket_width') ?? '1d';
  if (width !== '1h' && width !== '1d') {
    throw badRequest(
      `'bucket_width' must be '1h' or '1d' (the ledger counts hours); got '${width}'.`,
      'bucket_width',
      'invalid_value',
    );
  }
  const groups = [...(query.getAll?.('group_by') ?? []), ...(query.getAll?.('group_by[]') ?? [])];
  if (!query.getAll)
    for (const name of ['group_by', 'group_by[]']) if (query.get(name)) groups.push(query.get(name)!);
  const bad = groups.flatMap((g) => g.split(',')).find((g) => g.trim() !== 'model');
  if (bad !== undefined)
    throw badRequest(`'group_by' supports only 'model'; got '${bad}'.`, 'group_by', 'invalid_value');
  const { default: fallback, max } = LIMITS[width];
  const rawLimit = query.get('limit');
  const limit = rawLimit === null || rawLimit === '' ? fallback : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > max)
    throw badRequest(
      `'limit' must be an integer from 1 to ${max} for bucket_width=${width}.`,
      'limit',
      'invalid_value',
    );
  const size = WIDTH_S[width];
  const aligned = Math.floor(start / size) * size;
  let pageStart = aligned;
  const page = query.get('page');
  if (page !== null && page !== '') {
    const decoded = /^\d{1,12}$/.test(page) ? Number(page) : NaN;
    if (!Number.isInteger(decoded) || decoded < aligned || decoded >= end || (decoded - aligned) % size !== 0)
      throw badRequest(
        "'page' is not a cursor of this query; pass the 'next_page' it answered.",
        'page',
        'invalid_value',
      );
    pageStart = decoded;
  }
  return {
    startTime: aligned,
    endTime: end,
    bucketWidth: width,
    groupByModel: groups.length > 0,
    limit,
    pageStart,
  };
}

/** The caller's ledger rows with `from <= hour < to` (unix seconds). */
async function rowsOf(callerId: string, from: number, to: number): Promise<UsageRow[]> {
  const prefix = encodeURIComponent(callerId);
  const low = `${prefix}|${hourKey(from * 1000)}`;
  const high = `${prefix}|${hourKey((to - 1) * 1000)}`;
  const rows: UsageRow[] = [];
  const entities = (await table(storageNames().usage)).listEntities<UsageRow>({
    queryOptions: { filter: odata`PartitionKey ge ${low} and PartitionKey le ${high}` },
  });
  for await (const row of entities) if (row.hour >= from && row.hour < to) rows.push(row);
  return rows;
}

function emptyResult(model?: string): UsageResult {
  return {
    object: 'organization.usage.completions.result',
    input_tokens: 0,
    input_cached_tokens: 0,
    input_uncached_tokens: 0,
    output_tokens: 0,
    num_model_requests: 0,
    model: model ?? null,
  };
}

/** One page of the caller's buckets (see the module comment). */
export async function usagePage(caller: Caller, q: UsageQuery): Promise<UsagePage> {
  const size = WIDTH_S[q.bucketWidth];
  const pageEnd = Math.min(q.endTime, q.pageStart + q.limit * size);
  const rows = await rowsOf(caller.id, q.pageStart, pageEnd);
  const data: UsageBucket[] = [];
  for (let start = q.pageStart; start < pageEnd; start += size) {
    const inBucket = rows.filter((r) => r.hour >= start && r.hour < start + size);
    const byKey = new Map<string, UsageResult>();
    for (const row of inBucket) {
      const key = q.groupByModel ? row.deployment : '';
      let result = byKey.get(key);
      if (!result) byKey.set(key, (result = emptyResult(q.groupByModel ? row.deployment : undefined)));
      result.input_tokens += row.inputTokens;
      result.input_cached_tokens += row.cachedInputTokens;
      result.output_tokens += row.outputTokens;
      result.input_uncached_tokens += row.inputTokens - row.cachedInputTokens;
      result.num_model_requests += row.requests;
    }
    const results = [...byKey.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r);
    data.push({ object: 'bucket', start_time: start, end_time: start + size, results });
  }
  const hasMore = pageEnd < q.endTime;
  return { object: 'page', data, has_more: hasMore, next_page: hasMore ? String(pageEnd) : null };
}
