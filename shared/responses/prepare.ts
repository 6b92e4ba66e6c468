/**
 * A create request made ready for Azure OpenAI: validated, the default deployment filled in, every id it names
 * proved the caller's and opened (ids.ts), the image-generation header added, document references resolved.
 */
import type { Caller } from '../callers/auth';
import { safetyIdentifier } from '../callers/safety';
import { getConfig } from '../platform/config';
import { resolveDocumentRefs } from './documents-ref';
import { openBodyIds } from './ids';
import { validateCreate, type CreateFields } from './validate';

export interface PreparedCreate {
  fields: CreateFields;
  body: Record<string, unknown>;
  headers: Record<string, string>;
  /** Files uploaded upstream for document references; removed once a non-background response ends. */
  uploadedFileIds: string[];
}

/** Validates and completes a create body (in place). */
export async function prepareCreate(caller: Caller, body: Record<string, unknown>): Promise<PreparedCreate> {
  const fields = validateCreate(body);
  body.model = fields.model;
  // Before document references are resolved: those are the service's own `documents/<name>` file ids.
  openBodyIds(caller, body);
  // Azure's abuse monitoring tells services apart by this (the v1 API's successor of `user`). The gateway's
  // value replaces one the caller sent: a caller cannot pose as another service or hide behind a blank.
  body.safety_identifier = safetyIdentifier(caller);
  const headers: Record<string, string> = {};
  if (fields.tools.some((t) => t.type === 'image_generation')) {
    // Azure needs the image deployment named in a header (see the how-to's image generation section).
    headers['x-ms-oai-image-generation-deployment'] = getConfig().imageDeployment;
  }
  const uploadedFileIds = await resolveDocumentRefs(caller, body);
  return { fields, body, headers, uploadedFileIds };
}
