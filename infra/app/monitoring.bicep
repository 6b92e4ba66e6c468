// Log Analytics + workspace-based Application Insights. Local (instrumentation key) auth is off, so telemetry is
// accepted only with an Entra token: the app sends it as the managed identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING)
// and needs Monitoring Metrics Publisher on the component (rbac.bicep).

param logAnalyticsName string
param applicationInsightsName string
param location string
param tags object

@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2025-02-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: retentionInDays
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

output applicationInsightsName string = applicationInsights.name
output applicationInsightsId string = applicationInsights.id
// The connection string names the ingestion endpoint and the instrumentation key, which is an identifier, not a
// secret; with local auth disabled it cannot be used to send telemetry without an Entra token.
output connectionString string = applicationInsights.properties.ConnectionString

// A workbook on the component: tokens per caller per hour, tokens and requests by caller and deployment, and 429s
// by source (the gateway's limits or Azure OpenAI). Its queries are the ones in docs/usage-queries.md.
resource usageWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'usage-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Responses gateway: token usage and 429s'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: loadTextContent('usage-workbook.json')
  }
}

output usageWorkbookId string = usageWorkbook.id
