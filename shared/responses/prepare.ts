/**
 * A create request made ready for Azure OpenAI: validated, the default deployment filled in, the caller's
 * ownership of every id it names checked, the image-generation header added, document references resolved.
 */
import type { Caller } from '../callers/auth';
import { assertOwned } from '../callers/ownership';
import { assertFilesOwned } from '../files/service';
import { getConfig } from '../platform/config';
import { resolveDocumentRefs } from './documents-ref';
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
  if (fields.previousResponseId) await assertOwned(caller, fields.previousResponseId, 'previous_response_id');
  await assertFilesOwned(caller, body);
  const headers: Record<string, string> = {};
  if (fields.tools.some((t) => t.type === 'image_generation')) {
    // Azure needs the image deployment named in a header (see the how-to's image generation section).
    headers['x-ms-oai-image-generation-deployment'] = getConfig().imageDeployment;
  }
  const uploadedFileIds = await resolveDocumentRefs(caller, body);
  return { fields, body, headers, uploadedFileIds };
}
