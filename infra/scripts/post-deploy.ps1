# azd `postdeploy` hook on Windows: the twin of post-deploy.sh (read its header for why this runs after the code).
# Subscribes the `documents-blob` function to BlobCreated events of the `documents` container by deploying
# infra/eventgrid.json (compiled JSON: no Bicep CLI needed), always in azd's subscription (--subscription).
$ErrorActionPreference = 'Stop'

foreach ($name in 'AZURE_SUBSCRIPTION_ID', 'AZURE_RESOURCE_GROUP', 'AZURE_FUNCTION_APP_NAME', 'AZURE_STORAGE_ACCOUNT_NAME',
  'AZURE_MANAGED_IDENTITY_NAME', 'EVENTGRID_SYSTEM_TOPIC_NAME', 'EVENTGRID_DEADLETTER_CONTAINER',
  'AZURE_KEY_VAULT_NAME', 'ID_SEALING_SECRET_NAME', 'UPSTREAM_WEBHOOK_SECRET_NAME', 'AZURE_OPENAI_ENDPOINT') {
  if (-not [Environment]::GetEnvironmentVariable($name)) {
    throw "$name is not set: run through azd, or load the azd environment first (see docs/deploy.md)."
  }
}
$sub = $env:AZURE_SUBSCRIPTION_ID
$rg = $env:AZURE_RESOURCE_GROUP
$app = $env:AZURE_FUNCTION_APP_NAME
$functionName = 'documents-blob'

$hostName = az functionapp show --subscription $sub -g $rg -n $app --query defaultHostName -o tsv
if ($LASTEXITCODE -ne 0) { throw "az functionapp show failed" }

# The keys that bind ids to callers: created once (see post-deploy.sh), through a temporary file.
az keyvault secret show --subscription $sub --vault-name $env:AZURE_KEY_VAULT_NAME --name $env:ID_SEALING_SECRET_NAME --query id -o tsv 2>$null | Out-Null
if ($LASTEXITCODE -ne 0) {
  Write-Host "post-deploy: creating the id sealing key in Key Vault $($env:AZURE_KEY_VAULT_NAME) ..."
  $bytes = [System.Security.Cryptography.RandomNumberGenerator]::GetBytes(32)
  $secretFile = New-TemporaryFile
  try {
    Set-Content -Path $secretFile -Value ('k1:' + [Convert]::ToBase64String($bytes)) -NoNewline -Encoding utf8NoBOM
    az keyvault secret set --subscription $sub --vault-name $env:AZURE_KEY_VAULT_NAME --name $env:ID_SEALING_SECRET_NAME --file $secretFile --encoding utf-8 --query id -o tsv | Out-Null
    if ($LASTEXITCODE -ne 0) { throw "az keyvault secret set failed" }
  } finally { Remove-Item $secretFile -Force }
  az functionapp restart --subscription $sub -g $rg -n $app
  if ($LASTEXITCODE -ne 0) { throw "az functionapp restart failed" }
}

# Azure OpenAI's webhooks: registered once with the deploying user's Entra ID token when the resource accepts it
# (see post-deploy.sh); the signing secret goes straight to Key Vault through a temporary file.
az keyvault secret show --subscription $sub --vault-name $env:AZURE_KEY_VAULT_NAME --name $env:UPSTREAM_WEBHOOK_SECRET_NAME --query id -o tsv 2>$null | Out-Null
if ($LASTEXITCODE -ne 0) {
  $hookUrl = "https://$hostName/api/v1/upstream/webhooks"
  $endpoints = $env:AZURE_OPENAI_ENDPOINT.TrimEnd('/') + '/openai/v1/dashboard/webhook_endpoints'
  $registered = $false
  $token = az account get-access-token --subscription $sub --resource https://cognitiveservices.azure.com --query accessToken -o tsv 2>$null
  if ($LASTEXITCODE -eq 0 -and $token) {
    $body = @{
      name = 'responses-gateway'
      url = $hookUrl
      event_types = @('response.completed', 'response.failed', 'response.cancelled', 'response.incomplete')
    } | ConvertTo-Json
    Write-Host "post-deploy: registering $hookUrl on $($env:AZURE_OPENAI_ENDPOINT) (Entra ID) ..."
    try {
      $answer = Invoke-RestMethod -Method Post -Uri $endpoints -Headers @{ Authorization = "Bearer $token" } `
        -ContentType 'application/json' -Body $body -TimeoutSec 60
      if ($answer.signing_secret) {
        $secretFile = New-TemporaryFile
        try {
          Set-Content -Path $secretFile -Value $answer.signing_secret -NoNewline -Encoding utf8NoBOM
          az keyvault secret set --subscription $sub --vault-name $env:AZURE_KEY_VAULT_NAME --name $env:UPSTREAM_WEBHOOK_SECRET_NAME --file $secretFile --encoding utf-8 --query id -o tsv | Out-Null
          if ($LASTEXITCODE -ne 0) { throw "az keyvault secret set failed" }
        } finally { Remove-Item $secretFile -Force }
        $registered = $true
        az functionapp restart --subscription $sub -g $rg -n $app
        Write-Host 'post-deploy: upstream webhooks registered; the signing secret is in Key Vault.'
      }
    } catch {
      Write-Host "post-deploy: Azure OpenAI refused the webhook registration with an Entra ID token: $($_.Exception.Message)"
    }
  }
  if (-not $registered) {
    Write-Host ("post-deploy: upstream webhooks are OFF (background jobs are finalized by the poller alone). To turn them on, " +
      "register $hookUrl with an API key and store the returned signing_secret in Key Vault $($env:AZURE_KEY_VAULT_NAME) " +
      "as $($env:UPSTREAM_WEBHOOK_SECRET_NAME): see `"Upstream webhooks`" in docs/deploy.md.")
  }
}

# Wake the app so its host starts and creates the blob extension's system key.
try { Invoke-WebRequest -Uri "https://$hostName/api/health" -TimeoutSec 60 -UseBasicParsing | Out-Null } catch { }

$key = ''
for ($attempt = 1; $attempt -le 30; $attempt++) {
  $key = az functionapp keys list --subscription $sub -g $rg -n $app --query systemKeys.blobs_extension -o tsv 2>$null
  if ($key) { break }
  Write-Host "post-deploy: waiting for the blobs_extension system key ($attempt/30) ..."
  Start-Sleep -Seconds 10
}
if (-not $key) {
  throw "The app has no blobs_extension system key after 5 minutes; is the $functionName function deployed? Check the log stream, then run azd deploy again."
}

# The key goes to the template as a secure parameter through a temporary file, never on the command line.
$params = New-TemporaryFile
try {
  @{
    '$schema'      = 'https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#'
    contentVersion = '1.0.0.0'
    parameters     = @{
      systemTopicName              = @{ value = $env:EVENTGRID_SYSTEM_TOPIC_NAME }
      webhookEndpoint              = @{ value = "https://$hostName/runtime/webhooks/blobs?functionName=Host.Functions.$functionName&code=$key" }
      deadLetterStorageAccountName = @{ value = $env:AZURE_STORAGE_ACCOUNT_NAME }
      deadLetterContainerName      = @{ value = $env:EVENTGRID_DEADLETTER_CONTAINER }
      identityName                 = @{ value = $env:AZURE_MANAGED_IDENTITY_NAME }
    }
  } | ConvertTo-Json -Depth 5 | Set-Content -Path $params -Encoding utf8

  Write-Host "post-deploy: subscribing $functionName to BlobCreated in documents/ ..."
  az deployment group create `
    --subscription $sub `
    --resource-group $rg `
    --name "eventgrid-$functionName" `
    --template-file (Join-Path $PSScriptRoot '..' 'eventgrid.json') `
    --parameters "@$params" `
    --query properties.provisioningState -o tsv
  if ($LASTEXITCODE -ne 0) { throw "az deployment group create failed" }
}
finally {
  Remove-Item -Force $params
}
