// Azure OpenAI account with the three deployments the app names: chat (default `model` of /v1/responses),
// image (the `image_generation` tool) and summary (PDFs dropped into `documents/`).
// Keys are disabled (disableLocalAuth): the app uses its managed identity (Cognitive Services OpenAI User).

param name string
param location string
param tags object

@allowed(['OpenAI', 'AIServices'])
param kind string = 'OpenAI'

@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

@export()
@description('One model deployment.')
type deploymentSpec = {
  @description('Deployment name: what the app sends as `model`.')
  name: string
  @description('Model name, e.g. gpt-5.4-mini.')
  model: string
  @description('Model version, e.g. 2026-03-17.')
  version: string
  @description('Deployment SKU, e.g. GlobalStandard, DataZoneStandard, Standard.')
  sku: string
  @description('Capacity in units of the SKU (thousands of tokens per minute for chat models).')
  capacity: int
}

param chat deploymentSpec
param summary deploymentSpec
param image deploymentSpec

@description('Create the image deployment (image models are offered in few regions and may need approved access).')
param createImageDeployment bool = false

resource account 'Microsoft.CognitiveServices/accounts@2025-06-01' = {
  name: name
  location: location
  tags: tags
  kind: kind
  sku: { name: 'S0' }
  properties: {
    customSubDomainName: name
    disableLocalAuth: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: { defaultAction: 'Allow' }
  }
}

// The deployments are created one after the other (dependsOn): creating several deployments of one account in
// parallel fails with a conflict ("Another operation is being performed on the parent resource").
resource chatDeployment 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = {
  parent: account
  name: chat.name
  sku: { name: chat.sku, capacity: chat.capacity }
  properties: {
    model: { format: 'OpenAI', name: chat.model, version: chat.version }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
}

resource summaryDeployment 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = if (summary.name != chat.name) {
  parent: account
  name: summary.name
  sku: { name: summary.sku, capacity: summary.capacity }
  properties: {
    model: { format: 'OpenAI', name: summary.model, version: summary.version }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
  dependsOn: [chatDeployment]
}

resource imageDeployment 'Microsoft.CognitiveServices/accounts/deployments@2025-06-01' = if (createImageDeployment) {
  parent: account
  name: image.name
  sku: { name: image.sku, capacity: image.capacity }
  properties: {
    model: { format: 'OpenAI', name: image.model, version: image.version }
    versionUpgradeOption: 'OnceNewDefaultVersionAvailable'
  }
  dependsOn: [chatDeployment, summaryDeployment]
}

output id string = account.id
output name string = account.name
// An `AIServices` account's main endpoint is *.cognitiveservices.azure.com; its OpenAI endpoint is listed separately.
output endpoint string = account.properties.endpoints[?'OpenAI Language Model Instance API'] ?? account.properties.endpoint
