// The Key Vault that holds the app's secrets: ID_SEALING_KEYS, the keys that bind every id handed to a caller
// to that caller (docs/security.md), and UPSTREAM_WEBHOOK_SECRET, the signing secret of the webhook endpoint
// registered on the Azure OpenAI resource (docs/upstream-webhooks.md). RBAC only, no access policies: the app's identity may read secrets, the
// deploying user (when given) may manage them. The secret itself is created by the post-deploy hook when it is
// missing (Bicep cannot generate a random value that stays the same across deployments), never rotated by a
// redeploy.

param name string
param location string
param tags object

param identityPrincipalId string
@description('Object id of the deploying user or group (may create and rotate the secret); empty: none.')
param userPrincipalId string
@allowed(['User', 'Group', 'ServicePrincipal'])
param userPrincipalType string

@description('Name of the secret holding ID_SEALING_KEYS.')
param idSealingSecretName string
@description('Name of the secret holding UPSTREAM_WEBHOOK_SECRET (written by the post-deploy hook or by hand).')
param upstreamWebhookSecretName string

var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2026-02-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource appReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identityPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
  }
}

resource userManagesSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(userPrincipalId)) {
  name: guid(vault.id, userPrincipalId, keyVaultSecretsOfficer)
  scope: vault
  properties: {
    principalId: userPrincipalId
    principalType: userPrincipalType
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
  }
}

output name string = vault.name
// A Key Vault reference (resolved by the platform with the app's identity); no secret value in settings.
output idSealingKeysReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${idSealingSecretName})'
// Until the secret exists (the endpoint is not registered yet) the reference does not resolve; the app then reads
// the reference text, which it treats as "not configured": the ingestion route answers 404, the poller carries on.
output upstreamWebhookSigningReference string = '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${upstreamWebhookSecretName})'
