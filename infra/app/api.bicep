// The function app: Flex Consumption (FC1, Linux), Node 22, running as the user-assigned identity.
// App settings are the ones shared/platform/config.ts reads (under the same names) plus the host's identity-based
// AzureWebJobsStorage__* settings; tests/infra checks the two lists against each other.

param name string
param planName string
param location string
param tags object

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string
@description('Client id of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

param deploymentContainerUrl string
param blobEndpoint string
param queueEndpoint string
param tableEndpoint string
param applicationInsightsConnectionString string

@allowed([512, 2048, 4096])
param instanceMemoryMB int
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int

@description('Client id of the Entra app registration for App Service Authentication; empty: gateway keys only.')
param authClientId string

// Settings of shared/platform/config.ts (see main.bicep for their meaning).
param openAiEndpoint string
param openAiTokenScope string
param chatDeploymentName string
param imageDeploymentName string
param summaryDeploymentName string
param allowedDeployments string
param openAiTimeoutMs int
param openAiMaxRetries int
param maxRequestBytes int
param pdfFilesApiThresholdBytes int
param pollSchedule string
param pollInitialDelayMs int
param pollMaxDelayMs int
param pollConcurrency int
param pollTickBudgetMs int
param dueIndexPartitions int
param jobMaxAgeSeconds int
param publicBaseUrl string
param webhookSchedule string
param webhookTimeoutMs int
param metricsExportIntervalMs int
param webhookConcurrency int
param webhookRetryWindowSeconds int
param documentMaxBytes int
param summaryInstructions string
param limitRequestsPerMinute string
param limitTokensPerMinute string
param limitTokensPerDay string
param limitSyncIntervalMs int
@description('ID_SEALING_KEYS as a Key Vault reference (never the secret itself).')
param idSealingKeysReference string
@description('UPSTREAM_WEBHOOK_SECRET as a Key Vault reference (never the secret itself).')
param upstreamWebhookSigningReference string
param sharedPromptIds string
param sharedVectorStoreIds string
param sharedConversationIds string
param sharedSkillIds string
param sharedMcpTunnelIds string

var authEnabled = !empty(authClientId)

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource app 'Microsoft.Web/sites@2025-03-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references (ID_SEALING_KEYS) resolve with the app's user-assigned identity.
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      runtime: {
        name: 'node'
        version: '22'
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
    }
  }

  // Flex Consumption takes the runtime from functionAppConfig: FUNCTIONS_WORKER_RUNTIME and
  // FUNCTIONS_EXTENSION_VERSION must not be set. AzureWebJobsStorage (a connection string) is not set either:
  // the host and the app use the identity-based AzureWebJobsStorage__* settings, and AZURE_OPENAI_API_KEY is
  // absent so the app uses Entra ID for Azure OpenAI.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: {
      // Functions host storage, identity-based. The poll queue's trigger and the blob trigger (Event Grid source)
      // use the queue endpoint.
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      AzureWebJobsStorage__blobServiceUri: blobEndpoint
      AzureWebJobsStorage__queueServiceUri: queueEndpoint
      AzureWebJobsStorage__tableServiceUri: tableEndpoint

      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      METRICS_EXPORT_INTERVAL_MS: string(metricsExportIntervalMs)

      // shared/platform/config.ts
      GATEWAY_MODE: 'azure'
      AZURE_CLIENT_ID: identityClientId
      AZURE_OPENAI_ENDPOINT: openAiEndpoint
      AZURE_OPENAI_TOKEN_SCOPE: openAiTokenScope
      AZURE_OPENAI_CHAT_DEPLOYMENT: chatDeploymentName
      AZURE_OPENAI_IMAGE_DEPLOYMENT: imageDeploymentName
      AZURE_OPENAI_SUMMARY_DEPLOYMENT: summaryDeploymentName
      AZURE_OPENAI_ALLOWED_DEPLOYMENTS: empty(allowedDeployments)
        ? join(union([chatDeploymentName], [summaryDeploymentName]), ',')
        : allowedDeployments
      AZURE_OPENAI_TIMEOUT_MS: string(openAiTimeoutMs)
      AZURE_OPENAI_MAX_RETRIES: string(openAiMaxRetries)
      APP_SERVICE_AUTH_ENABLED: authEnabled ? 'true' : 'false'
      MAX_REQUEST_BYTES: string(maxRequestBytes)
      PDF_FILES_API_THRESHOLD_BYTES: string(pdfFilesApiThresholdBytes)
      POLL_SCHEDULE: pollSchedule
      POLL_INITIAL_DELAY_MS: string(pollInitialDelayMs)
      POLL_MAX_DELAY_MS: string(pollMaxDelayMs)
      POLL_CONCURRENCY: string(pollConcurrency)
      POLL_TICK_BUDGET_MS: string(pollTickBudgetMs)
      DUE_INDEX_PARTITIONS: string(dueIndexPartitions)
      JOB_MAX_AGE_SECONDS: string(jobMaxAgeSeconds)
      PUBLIC_BASE_URL: empty(publicBaseUrl) ? 'https://${app.properties.defaultHostName}' : publicBaseUrl
      WEBHOOK_SCHEDULE: webhookSchedule
      WEBHOOK_TIMEOUT_MS: string(webhookTimeoutMs)
      WEBHOOK_CONCURRENCY: string(webhookConcurrency)
      WEBHOOK_RETRY_WINDOW_SECONDS: string(webhookRetryWindowSeconds)
      DOCUMENT_MAX_BYTES: string(documentMaxBytes)
      SUMMARY_INSTRUCTIONS: summaryInstructions
      LIMIT_REQUESTS_PER_MINUTE: limitRequestsPerMinute
      LIMIT_TOKENS_PER_MINUTE: limitTokensPerMinute
      LIMIT_TOKENS_PER_DAY: limitTokensPerDay
      LIMIT_SYNC_INTERVAL_MS: string(limitSyncIntervalMs)
      ID_SEALING_KEYS: idSealingKeysReference
      UPSTREAM_WEBHOOK_SECRET: upstreamWebhookSigningReference
      SHARED_PROMPT_IDS: sharedPromptIds
      SHARED_VECTOR_STORE_IDS: sharedVectorStoreIds
      SHARED_CONVERSATION_IDS: sharedConversationIds
      SHARED_SKILL_IDS: sharedSkillIds
      SHARED_MCP_TUNNEL_IDS: sharedMcpTunnelIds
    }
  }

  // App Service Authentication (Entra ID), only when an app registration is given. It validates bearer tokens
  // and adds the x-ms-client-principal* headers, but lets unauthenticated requests through: gateway keys must keep
  // working and /api/health stays open; the app itself rejects a request that has neither (shared/callers/auth.ts).
  // No client secret: the app only validates incoming tokens, it never signs users in.
  resource authSettings 'config' = if (authEnabled) {
    name: 'authsettingsV2'
    properties: {
      platform: { enabled: true }
      globalValidation: {
        requireAuthentication: false
        unauthenticatedClientAction: 'AllowAnonymous'
      }
      httpSettings: { requireHttps: true }
      identityProviders: {
        azureActiveDirectory: {
          enabled: true
          registration: {
            clientId: authClientId
            openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
          }
          validation: {
            allowedAudiences: [authClientId, 'api://${authClientId}']
          }
        }
      }
      login: { tokenStore: { enabled: false } }
    }
  }

  // No FTP or basic-auth (publishing profile) deployments: azd deploys with an Entra token.
  resource ftpCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: { allow: false }
  }

  resource scmCredentials 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: { allow: false }
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
