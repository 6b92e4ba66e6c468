// Role assignments: what the managed identity (and optionally the deploying user) may do.
// Names are guid(scope, principal, role), so redeploying is idempotent and two principals never collide.
// Built-in role ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles

param storageAccountName string
param applicationInsightsName string
@description('Name of the Azure OpenAI account in this resource group; empty when an existing endpoint is used.')
param openAiAccountName string

param identityPrincipalId string

@description('Object id of a user or group that also gets data access (local runs against Azure); empty: none.')
param userPrincipalId string
@allowed(['User', 'Group', 'ServicePrincipal'])
param userPrincipalType string

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributor = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'
var cognitiveServicesOpenAiUser = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

var storageRoles = [storageBlobDataOwner, storageQueueDataContributor, storageTableDataContributor]
var withOpenAi = !empty(openAiAccountName)
var withUser = !empty(userPrincipalId)

resource storage 'Microsoft.Storage/storageAccounts@2025-06-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource openAi 'Microsoft.CognitiveServices/accounts@2025-06-01' existing = if (withOpenAi) {
  name: openAiAccountName
}

// The identity: host storage (blobs incl. the deployment package, queues for the blob trigger, tables) and the
// app's own data.
resource identityStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: {
    name: guid(storage.id, identityPrincipalId, role)
    scope: storage
    properties: {
      principalId: identityPrincipalId
      principalType: 'ServicePrincipal'
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

// The identity: telemetry into Application Insights with local auth disabled.
resource identityMetrics 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
  }
}

// The identity: inference on Azure OpenAI. With an existing endpoint elsewhere, grant this by hand (docs/deploy.md).
resource identityOpenAi 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withOpenAi) {
  name: guid(openAi.id, identityPrincipalId, cognitiveServicesOpenAiUser)
  scope: openAi
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
  }
}

// The deploying user, optional: `npm run keys`, `npm start` or tests against the deployed storage and model.
resource userStorage 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for role in storageRoles: if (withUser) {
    name: guid(storage.id, userPrincipalId, role)
    scope: storage
    properties: {
      principalId: userPrincipalId
      principalType: userPrincipalType
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    }
  }
]

resource userOpenAi 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (withUser && withOpenAi) {
  name: guid(openAi.id, userPrincipalId, cognitiveServicesOpenAiUser)
  scope: openAi
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', cognitiveServicesOpenAiUser)
  }
}
