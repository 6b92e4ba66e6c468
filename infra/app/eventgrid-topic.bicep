// The storage account's Event Grid system topic. Its subscription to the function (BlobCreated under documents/)
// is deployed after the code by infra/eventgrid.bicep: the webhook URL carries the `blobs_extension` system key,
// which the Functions host only creates once the app with its blob trigger is running.

param name string
param location string
param tags object
param storageAccountId string

@description('Resource id of the user-assigned identity the topic writes dead-lettered events as (it holds Storage Blob Data Owner on the account; shared keys are off).')
param identityId string

resource topic 'Microsoft.EventGrid/systemTopics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    source: storageAccountId
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

output name string = topic.name
