#!/bin/sh
# azd `postdeploy` hook (azure.yaml): subscribes the `documents-blob` function to BlobCreated events of the
# `documents` container, by deploying infra/eventgrid.json (the compiled infra/eventgrid.bicep). It also creates
# the id sealing key when missing, and registers the app's upstream webhook route on the Azure OpenAI resource
# when that resource accepts the deploying user's Entra ID token for it (docs/upstream-webhooks.md).
#
# Why after the code and not in main.bicep: the subscription's webhook is the blob extension endpoint
#   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.documents-blob&code=<blobs_extension key>
# and the `blobs_extension` system key only exists once the deployed app's host has started with its blob trigger;
# Event Grid also validates the endpoint when the subscription is created, which needs that running function.
# The key is passed as a secure template parameter through a temporary file (mode 600), never on a command line
# (visible in the process list) and never as a deployment output.
#
# What cannot misfire:
# - every `az` call names azd's subscription (--subscription), never az's default one;
# - the template is compiled JSON, so `az` never needs to download a Bicep CLI;
# - the deployment is incremental with a fixed name: running the hook again (`azd deploy` after `azd up`, or by
#   hand after rotating the host keys) updates the same subscription.
#
# azd runs hooks with its environment's values (main.bicep outputs) as environment variables. To rerun by hand:
#   set -a; eval "$(azd env get-values)"; set +a; sh infra/scripts/post-deploy.sh
set -eu

need="run through azd, or export the azd environment first (see docs/deploy.md)"
: "${AZURE_SUBSCRIPTION_ID:?$need}"
: "${AZURE_RESOURCE_GROUP:?$need}"
: "${AZURE_FUNCTION_APP_NAME:?$need}"
: "${AZURE_STORAGE_ACCOUNT_NAME:?$need}"
: "${AZURE_MANAGED_IDENTITY_NAME:?$need}"
: "${EVENTGRID_SYSTEM_TOPIC_NAME:?$need}"
: "${EVENTGRID_DEADLETTER_CONTAINER:?$need}"
: "${AZURE_KEY_VAULT_NAME:?$need}"
: "${ID_SEALING_SECRET_NAME:?$need}"
: "${UPSTREAM_WEBHOOK_SECRET_NAME:?$need}"
: "${AZURE_OPENAI_ENDPOINT:?$need}"
FUNCTION_NAME=documents-blob
sub="$AZURE_SUBSCRIPTION_ID"
rg="$AZURE_RESOURCE_GROUP"
app="$AZURE_FUNCTION_APP_NAME"

here="$(cd "$(dirname "$0")" && pwd)"
host="$(az functionapp show --subscription "$sub" -g "$rg" -n "$app" --query defaultHostName -o tsv)"

# The keys that bind ids to callers (ID_SEALING_KEYS, a Key Vault reference): created once, on the first run,
# and never replaced by a later one (that would invalidate every id callers hold; rotation is described in
# docs/security.md). The value goes to az through a mode-600 file, never on a command line.
if ! az keyvault secret show --subscription "$sub" --vault-name "$AZURE_KEY_VAULT_NAME" \
  --name "$ID_SEALING_SECRET_NAME" --query id -o tsv >/dev/null 2>&1; then
  echo "post-deploy: creating the id sealing key in Key Vault $AZURE_KEY_VAULT_NAME ..."
  secret="$(mktemp)"
  chmod 600 "$secret"
  printf 'k1:%s' "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$secret"
  az keyvault secret set --subscription "$sub" --vault-name "$AZURE_KEY_VAULT_NAME" \
    --name "$ID_SEALING_SECRET_NAME" --file "$secret" --encoding utf-8 --query id -o tsv >/dev/null
  rm -f "$secret"
  # The platform resolves Key Vault references when the app starts: restart so it reads the new secret.
  az functionapp restart --subscription "$sub" -g "$rg" -n "$app"
fi

# Azure OpenAI's webhooks (docs/upstream-webhooks.md): the endpoint is registered once, with the event types of a
# background response's end; Azure OpenAI returns its signing secret once, at creation, and it goes straight to
# Key Vault (UPSTREAM_WEBHOOK_SECRET is a reference to it). The how-to documents registration with an API key
# only, and this resource has keys disabled, so the hook tries the deploying user's Entra ID token; when the
# resource refuses it, nothing changes (the poller still finalizes every job) and the manual steps are printed.
# Every token and secret goes through mode-600 files, never a command line.
if ! az keyvault secret show --subscription "$sub" --vault-name "$AZURE_KEY_VAULT_NAME" \
  --name "$UPSTREAM_WEBHOOK_SECRET_NAME" --query id -o tsv >/dev/null 2>&1; then
  hook_url="https://$host/api/v1/upstream/webhooks"
  endpoints="${AZURE_OPENAI_ENDPOINT%/}/openai/v1/dashboard/webhook_endpoints"
  work="$(mktemp -d)"
  chmod 700 "$work"
  registered=""
  if az account get-access-token --subscription "$sub" --resource https://cognitiveservices.azure.com \
    --query accessToken -o tsv 2>/dev/null | sed 's/^/Authorization: Bearer /' >"$work/auth" &&
    [ -s "$work/auth" ]; then
    printf '{"name":"responses-gateway","url":"%s","event_types":["response.completed","response.failed","response.cancelled","response.incomplete"]}' \
      "$hook_url" >"$work/body"
    echo "post-deploy: registering $hook_url on $AZURE_OPENAI_ENDPOINT (Entra ID) ..."
    status="$(curl -sS -o "$work/answer" -w '%{http_code}' --max-time 60 -X POST "$endpoints" \
      -H @"$work/auth" -H 'Content-Type: application/json' --data-binary @"$work/body" || echo 000)"
    if [ "$status" -ge 200 ] && [ "$status" -lt 300 ] &&
      node -e 'const a=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));if(!a.signing_secret)process.exit(1);require("fs").writeFileSync(process.argv[2],a.signing_secret,{mode:0o600})' \
        "$work/answer" "$work/secret"; then
      az keyvault secret set --subscription "$sub" --vault-name "$AZURE_KEY_VAULT_NAME" \
        --name "$UPSTREAM_WEBHOOK_SECRET_NAME" --file "$work/secret" --encoding utf-8 --query id -o tsv >/dev/null
      registered=yes
      az functionapp restart --subscription "$sub" -g "$rg" -n "$app"
      echo "post-deploy: upstream webhooks registered; the signing secret is in Key Vault."
    else
      echo "post-deploy: Azure OpenAI answered $status to the webhook registration with an Entra ID token."
    fi
  fi
  rm -rf "$work"
  if [ -z "$registered" ]; then
    echo "post-deploy: upstream webhooks are OFF (background jobs are finalized by the poller alone). To turn them" \
      "on, register $hook_url with an API key and store the returned signing_secret in Key Vault" \
      "$AZURE_KEY_VAULT_NAME as $UPSTREAM_WEBHOOK_SECRET_NAME: see \"Upstream webhooks\" in docs/deploy.md."
  fi
fi

# Wake the app so its host starts, indexes the functions and creates the blob extension's system key.
# On Flex Consumption the first request after a deployment can take a while.
curl -fsS -o /dev/null --max-time 60 --retry 5 --retry-delay 5 --retry-all-errors "https://$host/api/health" || true

key=""
attempt=1
while [ "$attempt" -le 30 ]; do
  key="$(az functionapp keys list --subscription "$sub" -g "$rg" -n "$app" \
    --query systemKeys.blobs_extension -o tsv 2>/dev/null || true)"
  [ -n "$key" ] && break
  echo "post-deploy: waiting for the blobs_extension system key ($attempt/30) ..."
  sleep 10
  attempt=$((attempt + 1))
done
if [ -z "$key" ]; then
  echo "post-deploy: the app has no blobs_extension system key after 5 minutes; is the $FUNCTION_NAME function" \
    "deployed? Check the app's log stream, then run \`azd deploy\` again." >&2
  exit 1
fi

params="$(mktemp)"
trap 'rm -f "$params"' EXIT INT TERM
chmod 600 "$params"
cat >"$params" <<JSON
{
  "\$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {
    "systemTopicName": { "value": "$EVENTGRID_SYSTEM_TOPIC_NAME" },
    "webhookEndpoint": {
      "value": "https://$host/runtime/webhooks/blobs?functionName=Host.Functions.$FUNCTION_NAME&code=$key"
    },
    "deadLetterStorageAccountName": { "value": "$AZURE_STORAGE_ACCOUNT_NAME" },
    "deadLetterContainerName": { "value": "$EVENTGRID_DEADLETTER_CONTAINER" },
    "identityName": { "value": "$AZURE_MANAGED_IDENTITY_NAME" }
  }
}
JSON

echo "post-deploy: subscribing $FUNCTION_NAME to BlobCreated in documents/ (topic $EVENTGRID_SYSTEM_TOPIC_NAME) ..."
az deployment group create \
  --subscription "$sub" \
  --resource-group "$rg" \
  --name "eventgrid-$FUNCTION_NAME" \
  --template-file "$here/../eventgrid.json" \
  --parameters "@$params" \
  --query properties.provisioningState -o tsv
