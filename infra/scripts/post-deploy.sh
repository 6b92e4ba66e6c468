#!/bin/sh
# azd `postdeploy` hook (azure.yaml): subscribes the `documents-blob` function to BlobCreated events of the
# `documents` container, by deploying infra/eventgrid.bicep.
#
# Why after the code and not in main.bicep: the subscription's webhook is the blob extension endpoint
#   https://<app>/runtime/webhooks/blobs?functionName=Host.Functions.documents-blob&code=<blobs_extension key>
# and the `blobs_extension` system key only exists once the deployed app's host has started with its blob trigger;
# Event Grid also validates the endpoint when the subscription is created, which needs that running function.
# The key is passed to Bicep as a @secure() parameter through a temporary file (mode 600), never on a command line
# (visible in the process list) and never as a deployment output.
#
# azd runs hooks with its environment's values (main.bicep outputs) as environment variables. To rerun by hand:
#   eval "$(azd env get-values)" && sh infra/scripts/post-deploy.sh
set -eu

: "${AZURE_RESOURCE_GROUP:?run through azd, or export the azd environment first (see docs/deploy.md)}"
: "${AZURE_FUNCTION_APP_NAME:?run through azd, or export the azd environment first}"
: "${EVENTGRID_SYSTEM_TOPIC_NAME:?run through azd, or export the azd environment first}"
FUNCTION_NAME=documents-blob

here="$(cd "$(dirname "$0")" && pwd)"
host="$(az functionapp show -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" --query defaultHostName -o tsv)"

# Wake the app so its host starts, indexes the functions and creates the blob extension's system key.
# On Flex Consumption the first request after a deployment can take a while.
curl -fsS -o /dev/null --max-time 60 --retry 5 --retry-delay 5 --retry-all-errors "https://$host/api/health" || true

key=""
attempt=1
while [ "$attempt" -le 30 ]; do
  key="$(az functionapp keys list -g "$AZURE_RESOURCE_GROUP" -n "$AZURE_FUNCTION_APP_NAME" \
    --query systemKeys.blobs_extension -o tsv 2>/dev/null || true)"
  [ -n "$key" ] && break
  echo "post-deploy: waiting for the blobs_extension system key ($attempt/30) ..."
  sleep 10
  attempt=$((attempt + 1))
done
if [ -z "$key" ]; then
  echo "post-deploy: the app has no blobs_extension system key; is the $FUNCTION_NAME function deployed?" >&2
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
    }
  }
}
JSON

echo "post-deploy: subscribing $FUNCTION_NAME to BlobCreated in documents/ (topic $EVENTGRID_SYSTEM_TOPIC_NAME) ..."
az deployment group create \
  --resource-group "$AZURE_RESOURCE_GROUP" \
  --name "eventgrid-$FUNCTION_NAME" \
  --template-file "$here/../eventgrid.bicep" \
  --parameters "@$params" \
  --query properties.provisioningState -o tsv
