/** The identifier Azure OpenAI's abuse monitoring sees for a caller. */
import { createHmac } from 'node:crypto';
import { getConfig } from '../platform/config';
import type { Caller } from './auth';

/**
 * The `safety_identifier` sent upstream for `caller`: `gw-` and 40 hex digits of an HMAC-SHA256 of the caller
 * id, keyed with the Azure OpenAI endpoint. Stable across restarts, instances, deployments and key rotations
 * (it names the service, not a key), different for the same caller name on another resource, and no secret is
 * involved, so nothing secret can leak through it; the caller name itself is not sent. `npm run usage` prints
 * each caller's identifier so an abuse report can be traced back.
 */
export function safetyIdentifier(caller: Pick<Caller, 'id'>): string {
  const key = `responses-gateway safety_identifier v1 ${getConfig().openaiEndpoint}`;
  return `gw-${createHmac('sha256', key).update(caller.id, 'utf8').digest('hex').slice(0, 40)}`;
}
