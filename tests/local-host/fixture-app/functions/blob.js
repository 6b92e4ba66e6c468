const { app } = require('@azure/functions');
const { BlobServiceClient } = require('@azure/storage-blob');
const state = require('../lib/state');

// Writes what it received to the output container, so tests can assert on bytes and trigger metadata.
// Blob names starting with "fail-" throw, to exercise retries and poison handling.
app.storageBlob('sample-blob', {
  path: '%FIXTURE_BLOB_CONTAINER%/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: async (blob, context) => {
    const name = context.triggerMetadata.name;
    state.blobAttempts[name] = (state.blobAttempts[name] ?? 0) + 1;
    if (String(name).startsWith('fail-')) throw new Error(`cannot process ${name}`);
    const service = BlobServiceClient.fromConnectionString(process.env.AzureWebJobsStorage);
    const out = service.getContainerClient(process.env.FIXTURE_OUTPUT_CONTAINER);
    await out.createIfNotExists();
    const report = JSON.stringify({
      isBuffer: Buffer.isBuffer(blob),
      text: blob.toString('utf8'),
      triggerMetadata: context.triggerMetadata,
    });
    await out.getBlockBlobClient(`${name}.json`).upload(report, Buffer.byteLength(report));
    context.log(`processed ${name}`);
  },
});
