import { describe, expect, it } from 'vitest';
import {
  apiBlobName,
  blobKey,
  claimedOwner,
  classifyBlobName,
  documentIdTime,
  isDocumentId,
  newDocumentId,
  sanitizeFilename,
} from '../../shared/documents/naming';
import { filenameFromDisposition } from '../../shared/documents/upload';
import type { Caller } from '../../shared/callers/auth';

describe('summary names', () => {
  it('maps documents/a/b.pdf to summaries/a/b.md and a/b.json', () => {
    expect(classifyBlobName('a/b.pdf')).toEqual({
      kind: 'pdf',
      blobName: 'a/b.pdf',
      summaryBlob: 'a/b.md',
      recordBlob: 'a/b.json',
    });
  });

  it('accepts the .pdf extension in any case', () => {
    expect(classifyBlobName('scans/SCAN 01.PDF')).toMatchObject({
      kind: 'pdf',
      summaryBlob: 'scans/SCAN 01.md',
    });
  });

  it('keeps dots and unicode inside names', () => {
    expect(classifyBlobName('reports/2024.q1/résumé.v2.pdf')).toMatchObject({
      kind: 'pdf',
      summaryBlob: 'reports/2024.q1/résumé.v2.md',
      recordBlob: 'reports/2024.q1/résumé.v2.json',
    });
  });

  it('rejects names without a .pdf extension, with a record beside the name', () => {
    expect(classifyBlobName('notes.txt')).toEqual({
      kind: 'not-pdf',
      blobName: 'notes.txt',
      recordBlob: 'notes.txt.json',
    });
    expect(classifyBlobName('a/pdf')).toMatchObject({ kind: 'not-pdf', recordBlob: 'a/pdf.json' });
    expect(classifyBlobName('.pdf')).toMatchObject({ kind: 'not-pdf' });
    expect(classifyBlobName('a/.pdf')).toMatchObject({ kind: 'not-pdf' });
  });

  it.each([
    ['x/../../evil.pdf'],
    ['../evil.pdf'],
    ['./a.pdf'],
    ['a//b.pdf'],
    ['/a.pdf'],
    ['a/b.pdf/'],
    ['a\\..\\b.pdf'],
    ['bad\nname.pdf'],
    ['ends-with-dot.pdf.'],
    [''],
  ])('never maps the unsafe name %j to a summary name', (name) => {
    expect(classifyBlobName(name).kind).toBe('unsafe');
  });

  it('refuses names whose record name would exceed the blob name limit', () => {
    expect(classifyBlobName(`${'a'.repeat(1020)}.txt`).kind).toBe('unsafe');
    expect(classifyBlobName(`${'a'.repeat(1020)}.pdf`).kind).toBe('pdf');
  });

  it('keys table rows by a hash that is safe as a PartitionKey', () => {
    const key = blobKey('a/b#c?.pdf');
    expect(key).toMatch(/^blob_[0-9a-f]{64}$/);
    expect(blobKey('a/b#c?.pdf')).toBe(key);
    expect(blobKey('a/b#c?.PDF')).not.toBe(key);
  });
});

describe('document ids', () => {
  it('sort newest first and carry their creation time', () => {
    const older = newDocumentId(1_700_000_000_000);
    const newer = newDocumentId(1_700_000_000_001);
    expect(isDocumentId(older)).toBe(true);
    expect(newer < older).toBe(true);
    expect(documentIdTime(older)).toBe(1_700_000_000_000);
  });

  it('reject anything else', () => {
    for (const id of ['doc_', 'resp_123', 'doc_../../x', `doc_${'1'.repeat(13)}XYZ`])
      expect(isDocumentId(id)).toBe(false);
  });
});

describe('API upload names', () => {
  const caller: Caller = { id: 'key:alice smith', source: 'key', name: 'alice smith' };

  it("live under the caller's prefix and the document id", () => {
    const id = newDocumentId();
    const name = apiBlobName(caller, id, 'report.pdf');
    expect(name).toBe(`key/alice%20smith/${id}/report.pdf`);
    expect(claimedOwner(name)).toEqual({ callerId: 'key:alice smith', documentId: id });
  });

  it('are not claimed by names of another shape', () => {
    const id = newDocumentId();
    expect(claimedOwner('report.pdf')).toBeUndefined();
    expect(claimedOwner(`key/alice/${id}/sub/report.pdf`)).toBeUndefined();
    expect(claimedOwner(`other/alice/${id}/report.pdf`)).toBeUndefined();
    expect(claimedOwner('key/alice/not-an-id/report.pdf')).toBeUndefined();
    expect(claimedOwner(`key/%zz/${id}/report.pdf`)).toBeUndefined();
  });

  it.each([
    ['report.pdf', 'report.pdf'],
    ['Report.PDF', 'Report.pdf'],
    ['../../etc/passwd', 'passwd.pdf'],
    ['C:\\scans\\scan 1.pdf', 'scan 1.pdf'],
    ['  .hidden.pdf ', 'hidden.pdf'],
    ['a?b#c%d.pdf', 'a_b_c_d.pdf'],
    ['line\nbreak.pdf', 'line_break.pdf'],
    ['', 'document.pdf'],
    [undefined, 'document.pdf'],
    ['...', 'document.pdf'],
    ['scan.png', 'scan.png.pdf'],
  ])('sanitizes the file name %j to %j', (raw, expected) => {
    expect(sanitizeFilename(raw)).toBe(expected);
  });

  it('caps file names at 200 characters', () => {
    const name = sanitizeFilename(`${'x'.repeat(500)}.pdf`);
    expect(name).toHaveLength(200);
    expect(name.endsWith('.pdf')).toBe(true);
  });

  it('reads the file name from Content-Disposition', () => {
    expect(filenameFromDisposition('attachment; filename="q1 report.pdf"')).toBe('q1 report.pdf');
    expect(filenameFromDisposition('attachment; filename=plain.pdf')).toBe('plain.pdf');
    expect(
      filenameFromDisposition('attachment; filename="x.pdf"; filename*=UTF-8\'\'r%C3%A9sum%C3%A9.pdf'),
    ).toBe('résumé.pdf');
    expect(filenameFromDisposition('inline')).toBeUndefined();
    expect(filenameFromDisposition(null)).toBeUndefined();
  });
});
