# azd `postdeploy` hook on Windows: the twin of post-deploy.sh (read its header for why this runs after the code).
# Subscribes the `documents-blob` function to BlobCreated events of the `documents` container via infra/eventgrid.bicep.
$ErrorActionPreference = 'Stop'

foreach ($name in 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'EVENTGRID_SYSTEM_TOPIC_NAME') {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    throw "$name is not set: run through azd, or load the azd environment first (see docs/deploy.md)."
  }
}
$rg = $env:AZURE_RESOURCE_GROUP
$app = $env:AZURE_FUNCTION_APP_NAME
$functionName = 'documents-blob'

$hostName = az functionapp show -g $rg -n $app --query defaultHostName -o tsv
if ($LASTEXITCODE -ne 0) { throw "az functionapp show failed" }

# Wake the app so its host starts and creates the blob extension's system key.
try { Invoke-WebRequest -Uri "https://$hostName/api/health" -TimeoutSec 60 -UseBasicParsing | Out-Null } catch { }

$key = ''
for ($attempt = 1; $attempt -le 30; $attempt++) {
  $key = az functionapp keys list -g $rg -n $app --query systemKeys.blobs_extension -o tsv 2>$null
  if ($key) { break }
  Write-Host "post-deploy: waiting for the blobs_extension system key ($attempt/30) ..."
  Start-Sleep -Seconds 10
}
if (-not $key) { throw "The app has no blobs_extension system key; is the $functionName function deployed?" }

# The key goes to Bicep as a @secure() parameter through a temporary file, never on the command line.
$params = New-TemporaryFile
try {
  @{
    '$schema'      = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
    contentVersion = '1.0.0.0'
    parameters     = @{
      systemTopicName = @{ value = $env:EVENTGRID_SYSTEM_TOPIC_NAME }
      webhookEndpoint = @{ value = "https://$hostName/runtime/webhooks/blobs?functionName=Host.Functions.$functionName&code=$key" }
    }
  } | ConvertTo-Json -Depth 5 | Set-Content -Path $params -Encoding utf8

  Write-Host "post-deploy: subscribing $functionName to BlobCreated in documents/ ..."
  az deployment group create `
    --resource-group $rg `
    --name "eventgrid-$functionName" `
    --template-file (Join-Path $PSScriptRoot '..' 'eventgrid.bicep') `
    --parameters "@$params" `
    --query properties.provisioningState -o tsv
  if ($LASTEXITCODE -ne 0) { throw "az deployment group create failed" }
}
finally {
  Remove-Item -Force $params
}
