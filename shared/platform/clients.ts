/**
 * Lazy, process-wide clients. Nothing here runs at import time: every scaled-out instance pays cold start,
 * so the credential, the OpenAI client and the storage clients are created on first use and then reused.
 */
import type { TokenCredential } from '@azure/identity';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import type OpenAI from 'openai';
import { getConfig } from './config';
import { blobSdk, identitySdk, openaiSdk, queueSdk, tablesSdk } from './sdk';

let credential: TokenCredential | undefined;
let openai: OpenAI | undefined;
let blobService: BlobServiceClient | undefined;
const tables = new Map<string, TableClient>();
const containers = new Map<string, ContainerClient>();
const queues = new Map<string, QueueClient>();

/** The managed identity (AZURE_CLIENT_ID selects a user-assigned one); falls back to developer logins locally. */
export function getCredential(): TokenCredential {
  credential ??= new (identitySdk().DefaultAzureCredential)({
    managedIdentityClientId: getConfig().clientId,
  });
  return credential;
}

/**
 * The official OpenAI SDK pointed at Azure OpenAI's v1 API. Entra ID tokens are passed as `apiKey` through a
 * bearer-token provider (openai-node `examples/azure/responses.ts`); an API key is used only when configured.
 */
export function getOpenAI(): OpenAI {
  if (!openai) {
    const config = getConfig();
    const { OpenAI } = openaiSdk();
    openai = new OpenAI({
      baseURL: `${config.openaiEndpoint}/openai/v1/`,
      apiKey:
        config.openaiApiKey ?? identitySdk().getBearerTokenProvider(getCredential(), config.openaiTokenScope),
      timeout: config.openaiTimeoutMs,
      maxRetries: config.openaiMaxRetries,
    });
  }
  return openai;
}

export function getBlobService(): BlobServiceClient {
  if (!blobService) {
    const { storage } = getConfig();
    const { BlobServiceClient } = blobSdk();
    blobService =
      storage.kind === 'connectionString'
        ? BlobServiceClient.fromConnectionString(storage.connectionString)
        : new BlobServiceClient(storage.blobServiceUri, getCredential());
  }
  return blobService;
}

/** A container client; the container is created by Bicep in Azure and by `ensureContainer` locally. */
export function getContainer(name: string): ContainerClient {
  let client = containers.get(name);
  if (!client) {
    client = getBlobService().getContainerClient(name);
    containers.set(name, client);
  }
  return client;
}

export function getTable(name: string): TableClient {
  let client = tables.get(name);
  if (!client) {
    const { storage } = getConfig();
    const { TableClient } = tablesSdk();
    client =
      storage.kind === 'connectionString'
        ? TableClient.fromConnectionString(storage.connectionString, name, {
            // Azurite serves tables over plain http on loopback.
            allowInsecureConnection:
              storage.connectionString.includes('127.0.0.1') ||
              storage.connectionString.includes('UseDevelopmentStorage'),
          })
        : new TableClient(`${storage.tableServiceUri}`, name, getCredential());
    tables.set(name, client);
  }
  return client;
}

/** A queue client: identity-based (`AzureWebJobsStorage__queueServiceUri`) in Azure, connection string locally. */
export function getQueue(name: string): QueueClient {
  let client = queues.get(name);
  if (!client) {
    const { storage } = getConfig();
    const { QueueClient, QueueServiceClient } = queueSdk();
    client =
      storage.kind === 'connectionString'
        ? new QueueClient(storage.connectionString, name)
        : new QueueServiceClient(storage.queueServiceUri, getCredential()).getQueueClient(name);
    queues.set(name, client);
  }
  return client;
}

/** Forget every client (tests that switch storage accounts or endpoints between runs). */
export function resetClientsForTests(): void {
  credential = undefined;
  openai = undefined;
  blobService = undefined;
  tables.clear();
  containers.clear();
  queues.clear();
}
