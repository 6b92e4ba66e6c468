// responses-gateway: everything `azd up` deploys. Subscription scope: it creates the resource group.
// Reads like the resource graph: identity → storage, monitoring, Azure OpenAI → function app → role assignments.
// No keys or connection strings with secrets anywhere: every hop authenticates as the user-assigned identity.
// The Event Grid subscription of the `documents-blob` function is deployed after the code (infra/eventgrid.bicep).
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name; names the resource group and seeds the unique suffix of every resource name.')
param environmentName string

// Every resource goes to this one region, so it must offer all three: Flex Consumption (the function app), the
// Azure OpenAI Responses API, and the default models as Global Standard deployments. The list is the intersection of
// Flex Consumption's regions (`az functionapp list-flexconsumption-locations`), the Responses API how-to's "Supported
// regions" and the Global Standard model matrix for gpt-5.4-mini (offered in every region below); docs/deploy.md
// cites the pages and their dates. canadaeast, polandcentral and switzerlandnorth have the Responses API but no
// Flex Consumption.
@allowed([
  'australiaeast'
  'brazilsouth'
  'canadacentral'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'westus'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
@description('Region of every resource: Flex Consumption, the Responses API and the default models are all offered there.')
param location string

@description('Resource group to create; default rg-<environmentName>.')
param resourceGroupName string = ''

@description('Object id of the deploying user (azd sets AZURE_PRINCIPAL_ID): gets storage data and OpenAI User roles so local runs and `npm run keys` work against Azure. Empty: no user roles.')
param principalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
@description('Kind of principalId (a CI service principal deploying with azd is `ServicePrincipal`).')
param principalType string = 'User'

// --- Function app ---

// Flex Consumption instance sizes: 512 MB (0.25 core), 2048 MB (1 core, the platform default) and 4096 MB (2 cores).
// A PDF of DOCUMENT_MAX_BYTES (50 MB) is held a few times over while it is validated and sent: 2048 MB is the
// smallest size with room for that next to the host.
@allowed([512, 2048, 4096])
@description('Flex Consumption instance memory, in MB (512, 2048 or 4096).')
param instanceMemoryMB int = 2048

// The platform accepts 40 to 1000 (Flex Consumption "Considerations": the lowest maximum scale is 40). Every Flex app
// of a subscription in one region shares a quota of 250 cores: at 2048 MB (1 core) scaling stops at 250 instances,
// at 4096 MB at 125, whatever this says; docs/deploy.md has the arithmetic.
@minValue(40)
@maxValue(1000)
@description('Flex Consumption scale-out limit (instances, 40-1000), per function group (HTTP, blob, each timer).')
param maximumInstanceCount int = 100

@description('Client id of an Entra app registration: switches on App Service Authentication (Entra ID) in front of the app, next to gateway keys. Empty: gateway keys only.')
param authClientId string = ''

@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GRS', 'Standard_RAGRS', 'Standard_GZRS', 'Standard_RAGZRS'])
@description('Storage account redundancy.')
param storageSkuName string = 'Standard_LRS'

// --- Azure OpenAI ---

@description('Endpoint of an existing Azure OpenAI resource (https://<name>.openai.azure.com). Empty: create one here. When set, grant the managed identity "Cognitive Services OpenAI User" on that resource yourself.')
param existingOpenAiEndpoint string = ''

@allowed(['OpenAI', 'AIServices'])
@description('Kind of the Azure OpenAI account created here.')
param openAiKind string = 'OpenAI'

@allowed(['Enabled', 'Disabled'])
@description('Public network access of the Azure OpenAI account created here (the function app reaches it over the public endpoint).')
param openAiPublicNetworkAccess string = 'Enabled'

// Models: each deployment is named after its model (callers send that name as `model`). The defaults are GA models
// a new subscription can deploy (no registration, not deprecated) as of the retirement schedule cited in
// docs/deploy.md. gpt-5.4-mini (2026-03-17): GA, deprecation for new customers no earlier than 2027-03-17.

@description('Default model of /v1/responses (AZURE_OPENAI_CHAT_DEPLOYMENT); the deployment is named after it.')
param chatModel string = 'gpt-5.4-mini'

@description('Version of chatModel.')
param chatModelVersion string = '2026-03-17'

@minValue(1)
@description('Capacity of the chat deployment, in thousands of tokens per minute.')
param chatCapacity int = 50

@description('Model that summarizes PDFs (AZURE_OPENAI_SUMMARY_DEPLOYMENT). The same model as chatModel shares its deployment (then summaryModelVersion and summaryCapacity are not used).')
param summaryModel string = 'gpt-5.4-mini'

@description('Version of summaryModel.')
param summaryModelVersion string = '2026-03-17'

@minValue(1)
@description('Capacity of a separate summary deployment, in thousands of tokens per minute.')
param summaryCapacity int = 50

@description('Image model of the image_generation tool (AZURE_OPENAI_IMAGE_DEPLOYMENT).')
param imageModel string = 'gpt-image-2'

@description('Version of imageModel.')
param imageModelVersion string = '2026-04-21'

@minValue(1)
@description('Capacity of the image deployment (requests per minute units).')
param imageCapacity int = 1

@description('Create the image deployment. Off by default: image models are offered in few regions and may need approved access; the app still names imageModel, so the image_generation tool answers 404 naming the deployment until it exists.')
param createImageDeployment bool = false

@allowed(['GlobalStandard', 'DataZoneStandard', 'Standard'])
@description('SKU of the model deployments.')
param modelDeploymentSku string = 'GlobalStandard'

// --- App settings of shared/platform/config.ts (its defaults, except the timer schedules; tests/infra checks) ---

@description('AZURE_OPENAI_TOKEN_SCOPE: Entra ID scope of Azure OpenAI tokens.')
param openAiTokenScope string = 'https://ai.azure.com/.default'

@description('AZURE_OPENAI_ALLOWED_DEPLOYMENTS: comma-separated deployments callers may name in `model`. Empty: the chat and summary deployments.')
param allowedDeployments string = ''

// An HTTP request gets at most 230 s on Azure Functions before the platform's front end answers for the app. One
// upstream call may take up to timeout x (1 + retries): at most 70 s x 3 = 210 s with these bounds (default 60 s x 3 =
// 180 s), so the app's own 504 (upstream_timeout) reaches the caller first. Long generations: `background: true`.
@minValue(1000)
@maxValue(70000)
@description('AZURE_OPENAI_TIMEOUT_MS: timeout of one upstream request, ms (x (1 + retries) stays below the 230 s HTTP limit).')
param openAiTimeoutMs int = 60000

@minValue(0)
@maxValue(2)
@description('AZURE_OPENAI_MAX_RETRIES: upstream retries on 429/5xx/connection errors (at most 2: see openAiTimeoutMs).')
param openAiMaxRetries int = 2

@minValue(1024)
@description('MAX_REQUEST_BYTES: largest request body accepted, bytes.')
param maxRequestBytes int = 67108864

@minValue(0)
@description('PDF_FILES_API_THRESHOLD_BYTES: larger PDFs go through the Files API.')
param pdfFilesApiThresholdBytes int = 8388608

// The two timers are the only work of an idle app, and on Flex Consumption each tick is billed as at least 1 s of a
// whole instance (each timer scales on instances of its own). Every 5 s (the code's default, for other hosts) that is
// about $50 a month with nothing to do; once a minute it is under $2 (docs/deploy.md, "What it costs idle"). A
// background response is then finalized, and its webhook sent, up to a minute after it ends upstream.
@description('POLL_SCHEDULE: NCRONTAB schedule (six fields) of the background poller. Azure default: once a minute.')
param pollSchedule string = '0 * * * * *'

@minValue(0)
@description('POLL_INITIAL_DELAY_MS: first delay between upstream polls of a background job, ms.')
param pollInitialDelayMs int = 1000

@minValue(0)
@description('POLL_MAX_DELAY_MS: cap of the delay between polls of one job, ms.')
param pollMaxDelayMs int = 30000

@minValue(1)
@maxValue(256)
@description('POLL_CONCURRENCY: jobs one timer tick claims at once (the queue trigger polls them).')
param pollConcurrency int = 16

@minValue(100)
@description('POLL_TICK_BUDGET_MS: a timer tick takes no new work after this many ms.')
param pollTickBudgetMs int = 20000

@minValue(1)
@maxValue(64)
@description('DUE_INDEX_PARTITIONS: table partitions the due index is spread over (about 2,000 entities/s each).')
param dueIndexPartitions int = 4

@minValue(1)
@description('JOB_MAX_AGE_SECONDS: a background job running longer is expired and cancelled.')
param jobMaxAgeSeconds int = 86400

@description('PUBLIC_BASE_URL: base URL callers reach the app at (links in webhook events). Empty: https://<app>.azurewebsites.net; set it when a custom domain or gateway fronts the app.')
param publicBaseUrl string = ''

@description('WEBHOOK_SCHEDULE: NCRONTAB schedule (six fields) of the completion-webhook delivery timer. Azure default: once a minute (see pollSchedule).')
param webhookSchedule string = '0 * * * * *'

@minValue(500)
@maxValue(60000)
@description('WEBHOOK_TIMEOUT_MS: timeout of one webhook delivery attempt, ms.')
param webhookTimeoutMs int = 10000

@description('METRICS_EXPORT_INTERVAL_MS: how often token metrics are sent to Application Insights, ms.')
@minValue(1000)
param metricsExportIntervalMs int = 60000

@minValue(1)
@maxValue(256)
@description('WEBHOOK_CONCURRENCY: webhook deliveries in flight during one timer tick.')
param webhookConcurrency int = 8

@minValue(1)
@description('WEBHOOK_RETRY_WINDOW_SECONDS: a webhook delivery is retried this long, then marked failed.')
param webhookRetryWindowSeconds int = 86400

@minValue(1)
@description('DOCUMENT_MAX_BYTES: larger PDFs are rejected before any token is spent.')
param documentMaxBytes int = 52428800

@description('LIMIT_REQUESTS_PER_MINUTE: default requests per minute per caller. Empty: no limit.')
param limitRequestsPerMinute string = ''

@description('LIMIT_TOKENS_PER_MINUTE: default tokens per minute per caller (estimated, then corrected with the usage). Empty: no limit.')
param limitTokensPerMinute string = ''

@description('LIMIT_TOKENS_PER_DAY: default daily token budget per caller (UTC days). Empty: no budget.')
param limitTokensPerDay string = ''

@minValue(100)
@maxValue(60000)
@description('LIMIT_SYNC_INTERVAL_MS: how often each instance reconciles its rate-limit counters through table storage, ms.')
param limitSyncIntervalMs int = 1000

@description('SUMMARY_INSTRUCTIONS: instructions given to the summary deployment for each PDF.')
param summaryInstructions string = 'Summarize this document in Markdown: a one-paragraph overview, then the key points as a bulleted list. Quote figures and names exactly.'

@description('SHARED_PROMPT_IDS: prompt ids every caller may use (comma-separated); any other prompt.id is refused.')
param sharedPromptIds string = ''

@description('SHARED_VECTOR_STORE_IDS: vector store ids every caller may name in file_search tools (comma-separated).')
param sharedVectorStoreIds string = ''

@description('SHARED_CONVERSATION_IDS: conversation ids every caller may use (comma-separated).')
param sharedConversationIds string = ''

@description('SHARED_SKILL_IDS: skill ids every caller may use (comma-separated).')
param sharedSkillIds string = ''

@description('SHARED_MCP_TUNNEL_IDS: MCP tunnel ids every caller may use (comma-separated).')
param sharedMcpTunnelIds string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var createOpenAi = empty(existingOpenAiEndpoint)
var functionAppName = 'func-${resourceToken}'
var storageAccountName = 'st${resourceToken}'
var applicationInsightsName = 'appi-${resourceToken}'
var openAiAccountName = 'oai-${resourceToken}'
var identityName = 'id-${resourceToken}'
var chatDeployment = {
  name: chatModel
  model: chatModel
  version: chatModelVersion
  sku: modelDeploymentSku
  capacity: chatCapacity
}
var summaryDeployment = {
  name: summaryModel
  model: summaryModel
  version: summaryModelVersion
  sku: modelDeploymentSku
  capacity: summaryCapacity
}
var imageDeployment = {
  name: imageModel
  model: imageModel
  version: imageModelVersion
  sku: modelDeploymentSku
  capacity: imageCapacity
}
// Names the app uses (shared/platform/storage.ts TABLES and CONTAINERS). It creates missing ones on first use too, but
// declaring them here makes a fresh deployment complete and keeps the data containers private from the start.
// `eventgrid-deadletter` holds Event Grid events for documents-blob that could not be delivered (infra/eventgrid.bicep).
var deadLetterContainerName = 'eventgrid-deadletter'
var containerNames = ['documents', 'summaries', 'images', 'responses', deadLetterContainerName]
var tableNames = ['callers', 'ownership', 'jobs', 'webhooks', 'idempotency', 'documents', 'limits', 'usage']
// The poll queue (the poller timer sends, the queue trigger polls) and the host's poison queue for it.
var queueNames = ['poll-work', 'poll-work-poison']

resource rg 'Microsoft.Resources/resourceGroups@2025-04-01' = {
  name: !empty(resourceGroupName) ? resourceGroupName : 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: identityName
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: storageAccountName
    location: location
    tags: tags
    skuName: storageSkuName
    deploymentContainerName: 'app-package'
    containerNames: containerNames
    tableNames: tableNames
    queueNames: queueNames
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: applicationInsightsName
    location: location
    tags: tags
  }
}

module openAi 'app/openai.bicep' = if (createOpenAi) {
  name: 'openai'
  scope: rg
  params: {
    name: openAiAccountName
    location: location
    tags: tags
    kind: openAiKind
    publicNetworkAccess: openAiPublicNetworkAccess
    chat: chatDeployment
    summary: summaryDeployment
    image: imageDeployment
    createImageDeployment: createImageDeployment
  }
}

var openAiEndpoint = createOpenAi ? openAi!.outputs.endpoint : existingOpenAiEndpoint

var idSealingSecretName = 'id-sealing-keys'
var upstreamWebhookSecretName = 'upstream-webhook-secret'

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    #disable-next-line what-if-short-circuiting
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
    idSealingSecretName: idSealingSecretName
    upstreamWebhookSecretName: upstreamWebhookSecretName
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    blobEndpoint: storage.outputs.blobEndpoint
    queueEndpoint: storage.outputs.queueEndpoint
    tableEndpoint: storage.outputs.tableEndpoint
    applicationInsightsConnectionString: monitoring.outputs.connectionString
    instanceMemoryMB: instanceMemoryMB
    maximumInstanceCount: maximumInstanceCount
    authClientId: authClientId
    openAiEndpoint: openAiEndpoint
    openAiTokenScope: openAiTokenScope
    chatDeploymentName: chatDeployment.name
    imageDeploymentName: imageDeployment.name
    summaryDeploymentName: summaryDeployment.name
    allowedDeployments: allowedDeployments
    openAiTimeoutMs: openAiTimeoutMs
    openAiMaxRetries: openAiMaxRetries
    maxRequestBytes: maxRequestBytes
    pdfFilesApiThresholdBytes: pdfFilesApiThresholdBytes
    pollSchedule: pollSchedule
    pollInitialDelayMs: pollInitialDelayMs
    pollMaxDelayMs: pollMaxDelayMs
    pollConcurrency: pollConcurrency
    pollTickBudgetMs: pollTickBudgetMs
    dueIndexPartitions: dueIndexPartitions
    jobMaxAgeSeconds: jobMaxAgeSeconds
    publicBaseUrl: publicBaseUrl
    webhookSchedule: webhookSchedule
    webhookTimeoutMs: webhookTimeoutMs
    metricsExportIntervalMs: metricsExportIntervalMs
    webhookConcurrency: webhookConcurrency
    webhookRetryWindowSeconds: webhookRetryWindowSeconds
    documentMaxBytes: documentMaxBytes
    summaryInstructions: summaryInstructions
    limitRequestsPerMinute: limitRequestsPerMinute
    limitTokensPerMinute: limitTokensPerMinute
    limitTokensPerDay: limitTokensPerDay
    limitSyncIntervalMs: limitSyncIntervalMs
    idSealingKeysReference: keyVault.outputs.idSealingKeysReference
    upstreamWebhookSigningReference: keyVault.outputs.upstreamWebhookSigningReference
    sharedPromptIds: sharedPromptIds
    sharedVectorStoreIds: sharedVectorStoreIds
    sharedConversationIds: sharedConversationIds
    sharedSkillIds: sharedSkillIds
    sharedMcpTunnelIds: sharedMcpTunnelIds
  }
}

// Scopes are passed by name (known before the deployment starts, so What-If can see the role assignments), hence the
// explicit dependsOn on the modules that create them.
module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storageAccountName
    applicationInsightsName: applicationInsightsName
    openAiAccountName: createOpenAi ? openAiAccountName : ''
    // The assignment names include the principal id (only known at run time): if the identity is ever recreated,
    // new names avoid "RoleAssignmentUpdateNotPermitted" on the old ones.
    #disable-next-line what-if-short-circuiting
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
  dependsOn: [storage, monitoring, openAi]
}

module eventGridTopic 'app/eventgrid-topic.bicep' = {
  name: 'eventgrid-topic'
  scope: rg
  params: {
    name: 'evgt-${resourceToken}'
    location: location
    tags: tags
    storageAccountId: storage.outputs.id
    identityId: identity.outputs.id
  }
}

// For azd (its environment, the post-deploy hook) and for a local settings file against Azure
// (docs/deploy.md). AZURE_CLIENT_ID is deliberately not an output: in a developer's shell it would make
// DefaultAzureCredential try the managed identity instead of the developer's login.
output AZURE_LOCATION string = location
output AZURE_SUBSCRIPTION_ID string = subscription().subscriptionId
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_MANAGED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output AZURE_MANAGED_IDENTITY_NAME string = identity.outputs.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AzureWebJobsStorage__blobServiceUri string = storage.outputs.blobEndpoint
output AzureWebJobsStorage__queueServiceUri string = storage.outputs.queueEndpoint
output AzureWebJobsStorage__tableServiceUri string = storage.outputs.tableEndpoint
output AZURE_OPENAI_ENDPOINT string = openAiEndpoint
output AZURE_OPENAI_CHAT_DEPLOYMENT string = chatDeployment.name
output AZURE_OPENAI_IMAGE_DEPLOYMENT string = imageDeployment.name
output AZURE_OPENAI_SUMMARY_DEPLOYMENT string = summaryDeployment.name
output APP_SERVICE_AUTH_ENABLED string = empty(authClientId) ? 'false' : 'true'
output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output ID_SEALING_SECRET_NAME string = idSealingSecretName
output UPSTREAM_WEBHOOK_SECRET_NAME string = upstreamWebhookSecretName
output EVENTGRID_SYSTEM_TOPIC_NAME string = eventGridTopic.outputs.name
output EVENTGRID_DEADLETTER_CONTAINER string = deadLetterContainerName
