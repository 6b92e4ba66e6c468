import { app, type InvocationContext } from '@azure/functions';
import { documentStorageNames } from '../shared/documents/names';
import { processDocumentBlob } from '../shared/documents/ingest';
import { registerDocumentTasks } from '../shared/documents/tasks';
import { deliveryFromTrigger } from '../shared/documents/trigger';

/**
 * A blob in `documents/` is summarized into `summaries/`. Rejections and duplicates are normal outcomes; anything
 * unexpected is logged and rethrown so the platform retries the delivery (the work resumes from its claim).
 */
export async function documentsBlob(blob: unknown, context: InvocationContext): Promise<void> {
  const delivery = deliveryFromTrigger(blob, context.triggerMetadata, documentStorageNames().documents);
  try {
    await processDocumentBlob(delivery, context);
  } catch (e) {
    context.error(
      JSON.stringify({
        event: 'document',
        outcome: 'error',
        blob: delivery.name,
        etag: delivery.etag,
        error: e instanceof Error ? e.message : String(e),
      }),
    );
    throw e;
  }
}

// Flex Consumption supports only the Event Grid blob trigger; infra points the subscription at
// `Host.Functions.documents-blob`, so the name must stay.
app.storageBlob('documents-blob', {
  path: 'documents/{name}',
  connection: 'AzureWebJobsStorage',
  source: 'EventGrid',
  handler: documentsBlob,
});

// The poller (in whichever instance runs it) finalizes document jobs and recovers stalled claims.
registerDocumentTasks();
