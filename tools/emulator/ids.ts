import { randomBytes, randomUUID } from 'node:crypto';

/** Prefixes the real service uses, so code that sniffs ids (`resp_…`, `file-…`) behaves the same. */
export type IdPrefix =
  | 'resp'
  | 'msg'
  | 'fc'
  | 'fco'
  | 'call'
  | 'rs'
  | 'ig'
  | 'ci'
  | 'cntr'
  | 'mcpl'
  | 'mcpr'
  | 'mcpa'
  | 'mcp'
  | 'cmp'
  | 'item';

/** `resp_<48 hex>`; files use `file-<24 alphanumerics>` like Azure. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${randomBytes(24).toString('hex')}`;
}

export function newFileId(): string {
  return `file-${randomBytes(16).toString('base64url').replace(/[-_]/g, 'x').slice(0, 22)}`;
}

export function newRequestId(): string {
  return randomUUID();
}
