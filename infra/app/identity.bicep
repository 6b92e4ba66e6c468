// The one identity of the service: the function host, the deployment, storage, Application Insights and Azure OpenAI
// all authenticate as it, so no key or connection string with a secret exists anywhere.

param name string
param location string
param tags object

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2024-11-30' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
