/**
 * Scenario 4: the document path. Needs the blob-triggered summary function (`functions/documents-blob.ts`);
 * until it lands the scenario reports that it could not run.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../settings';

export interface DocumentsResult {
  landed: boolean;
  note?: string;
  fileMiB?: number;
  idleRssMiB?: number;
  peakGrowthMiB?: number;
  /** Peak RSS growth of the host over the file size. */
  memoryRatio?: number;
  /** From the blob event to the upstream create request, in ms (no model time: the emulator answers at once). */
  toUpstreamMs?: number;
  /** Extra lines for docs/benchmarks.md. */
  markdown?: string[];
}

export function runDocuments(opts: {
  settings: Record<string, string>;
  emulatorUrl: string;
  quick: boolean;
  log: (line: string) => void;
}): Promise<DocumentsResult> {
  const built = join(repoRoot, 'dist', 'functions', 'documents-blob.js');
  if (!existsSync(built)) {
    const note = 'The blob-triggered document function (functions/documents-blob.ts) has not landed yet.';
    opts.log(`  skipped: ${note}`);
    return Promise.resolve({ landed: false, note });
  }
  return Promise.resolve({ landed: true, note: 'not measured yet' });
}
