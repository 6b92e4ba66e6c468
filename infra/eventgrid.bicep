// Post-deploy step (infra/scripts/post-deploy.sh runs it as azd's `postdeploy` hook): subscribes the function
// `documents-blob` to BlobCreated events of the `documents` container.
//
// Why not in main.bicep: an Event Grid webhook subscription to a function's blob trigger needs the URL
//   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.documents-blob&code=<blobs_extension key>
// and the `blobs_extension` system key exists only after the code is deployed and the host has started with the
// blob trigger; Event Grid also validates the endpoint when the subscription is created, which needs the running
// function. Reading that key inside the main template (listKeys) would also put a secret into the deployment.
targetScope = 'resourceGroup'

@description('Name of the storage account\'s Event Grid system topic (main.bicep output EVENTGRID_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@secure()
@description('Blob extension webhook URL of the function, including its `code=<blobs_extension key>`.')
param webhookEndpoint string

param subscriptionName string = 'documents-blob'

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
      // The `documents` container (shared/storage.ts CONTAINERS.documents), whose PDFs `documents-blob` summarizes.
      subjectBeginsWith: '/blobServices/default/containers/documents/'
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
  }
}

output subscriptionName string = subscription.name
