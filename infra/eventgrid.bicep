// Post-deploy step (infra/scripts/post-deploy.sh runs it as azd's `postdeploy` hook): subscribes the function
// `documents-blob` to BlobCreated events of the `documents` container.
//
// Why not in main.bicep: an Event Grid webhook subscription to a function's blob trigger needs the URL
//   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.documents-blob&code=<blobs_extension key>
// and the `blobs_extension` system key exists only after the code is deployed and the host has started with the
// blob trigger; Event Grid also validates the endpoint when the subscription is created, which needs the running
// function. Reading that key inside the main template (listKeys) would also put a secret into the deployment.
//
// The hook deploys the compiled form of this file, infra/eventgrid.json (committed, so the hook needs no Bicep CLI);
// tests/infra fails when the two differ (`bash tools/bicep-check.sh --update-hook-template` rewrites it).
targetScope = 'resourceGroup'

@description('Name of the storage account\'s Event Grid system topic (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@secure()
@description('Blob extension webhook URL of the function, including its `code=<blobs_extension key>`.')
param webhookEndpoint string

param subscriptionName string = 'documents-blob'

@description('Storage account (in this resource group) whose container receives events that could not be delivered.')
param deadLetterStorageAccountName string

@description('Container for dead-lettered events (main.bicep output EVENTGRID_DEADLETTER_CONTAINER).')
param deadLetterContainerName string

@description('User-assigned identity (in this resource group) the topic writes dead-lettered events as; the topic carries it (app/eventgrid-topic.bicep) and it holds Storage Blob Data Owner on the account.')
param identityName string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' existing = {
  name: systemTopicName
}

resource subscription 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2025-02-15' = {
  parent: topic
  name: subscriptionName
  properties: {
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: webhookEndpoint
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    eventDeliverySchema: 'EventGridSchema'
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      // The `documents` container (shared/platform/storage.ts CONTAINERS.documents), whose PDFs `documents-blob` summarizes.
      subjectBeginsWith: '/blobServices/default/containers/documents/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    // An event still undelivered after 30 attempts or 24 h is kept as a blob instead of being dropped, so a document
    // that was never summarized can be found (and re-uploaded). Written as the identity: the account has no keys.
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', identityName)
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: resourceId('Microsoft.Storage/storageAccounts', deadLetterStorageAccountName)
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output subscriptionName string = subscription.name
