/**
 * Where the documents feature keeps its state: the `documents` and `summaries` containers and the `documents`
 * table. Integration tests point these at containers and tables of their own so parallel test files never
 * share blobs or rows.
 */
import { CONTAINERS, TABLES } from '../platform/storage';

/** Due-task prefix of a document version's claim recovery (name: the version row's PartitionKey). */
export const CLAIM_RECOVERY_TASK = 'document-claim';

export interface DocumentStorageNames {
  /** Container of uploaded PDFs (the blob trigger's container). */
  documents: string;
  /** Container of summaries (`.md`) and records (`.json`). */
  summaries: string;
  /** Table of version claims and callers' document rows. */
  table: string;
}

const DEFAULTS: DocumentStorageNames = {
  documents: CONTAINERS.documents,
  summaries: CONTAINERS.summaries,
  table: TABLES.documents,
};

let current: DocumentStorageNames = { ...DEFAULTS };

export function documentStorageNames(): Readonly<DocumentStorageNames> {
  return current;
}

/** Test seam: use other containers/tables (pass nothing to go back to the app's names). */
export function useDocumentStorageForTests(names?: Partial<DocumentStorageNames>): void {
  current = { ...DEFAULTS, ...names };
}
