/**
 * The infrastructure as Azure will receive it: infra/*.bicep compiled by the real Bicep CLI into ARM JSON, then
 * checked for what matters in production (no secrets, identity everywhere, the app settings the code reads).
 * Skipped, with the reason, only when tools/bicep-check.sh can find no Bicep CLI at all.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../shared/platform/config';
import { CONTAINERS, QUEUES, TABLES } from '../../shared/platform/storage';
import {
  compileInfra,
  defaultValue,
  expandVariables,
  moduleNamed,
  repoRoot,
  resourcesOf,
  resourcesOfType,
  type Json,
} from './arm';

const compiled = compileInfra();
const skipped = 'skipped' in compiled ? compiled.skipped : undefined;
if (skipped) console.warn(`tests/infra: ${skipped}; the ARM assertions are skipped.`);

/** Settings of shared/platform/config.ts that must not exist in Azure: identity replaces both secrets. */
const MUST_BE_ABSENT = ['AzureWebJobsStorage', 'AZURE_OPENAI_API_KEY'];

/** Settings whose Azure value is derived from other parameters rather than defaulted. */
const DERIVED = ['APP_SERVICE_AUTH_ENABLED'];

/**
 * Settings whose Azure default differs from the code's on purpose: the timers are what an idle app pays for, and
 * once a minute keeps that under $2 a month on Flex Consumption (docs/deploy.md, "What it costs idle").
 */
const AZURE_DEFAULTS: Record<string, string> = {
  POLL_SCHEDULE: '0 * * * * *',
  WEBHOOK_SCHEDULE: '0 * * * * *',
};

const ROLES = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd',
};

/**
 * Regions where all of the deployment is offered: Flex Consumption (`az functionapp list-flexconsumption-locations`),
 * the Azure OpenAI Responses API (its how-to, "Supported regions") and the default model as Global Standard
 * (model matrix). docs/deploy.md cites the pages.
 */
const DEPLOYABLE_REGIONS = [
  'australiaeast', 'brazilsouth', 'canadacentral', 'eastus', 'eastus2', 'francecentral', 'germanywestcentral',
  'italynorth', 'japaneast', 'koreacentral', 'northcentralus', 'norwayeast', 'southafricanorth', 'southcentralus',
  'southeastasia', 'southindia', 'spaincentral', 'swedencentral', 'uaenorth', 'uksouth', 'westus', 'westus3',
]; // prettier-ignore

/** Responses API regions without Flex Consumption: a deployment there would fail at the function app. */
const NO_FLEX_CONSUMPTION = ['canadaeast', 'polandcentral', 'switzerlandnorth'];

/** The HTTP limit of Azure Functions: the platform answers for the app after 230 s. */
const HTTP_LIMIT_MS = 230_000;

/** The model parameters and the azd environment variables main.parameters.json maps them from. */
const MODEL_PARAMETERS: Record<string, string> = {
  chatModel: 'AZURE_OPENAI_CHAT_MODEL',
  chatModelVersion: 'AZURE_OPENAI_CHAT_MODEL_VERSION',
  chatCapacity: 'AZURE_OPENAI_CHAT_CAPACITY',
  summaryModel: 'AZURE_OPENAI_SUMMARY_MODEL',
  summaryModelVersion: 'AZURE_OPENAI_SUMMARY_MODEL_VERSION',
  summaryCapacity: 'AZURE_OPENAI_SUMMARY_CAPACITY',
  imageModel: 'AZURE_OPENAI_IMAGE_MODEL',
  imageModelVersion: 'AZURE_OPENAI_IMAGE_MODEL_VERSION',
  imageCapacity: 'AZURE_OPENAI_IMAGE_CAPACITY',
  createImageDeployment: 'AZURE_OPENAI_CREATE_IMAGE_DEPLOYMENT',
  modelDeploymentSku: 'AZURE_OPENAI_DEPLOYMENT_SKU',
  instanceMemoryMB: 'FUNCTION_INSTANCE_MEMORY_MB',
  maximumInstanceCount: 'FUNCTION_MAXIMUM_INSTANCE_COUNT',
};

/** Models retired, or closed to new customers, by December 2026 (Azure OpenAI model retirement schedule). */
const NOT_FOR_NEW_SUBSCRIPTIONS =
  /^(gpt-4o|gpt-4\.1|gpt-image-1$|gpt-image-1-mini|o1|o3-mini|o4-mini|gpt-5-mini|gpt-5\.1|dall-e)/;

describe.skipIf(skipped !== undefined)('infrastructure (compiled ARM templates)', () => {
  // A skipped suite is still collected: without templates, only show why.
  if ('skipped' in compiled) {
    it(`needs a Bicep CLI (${compiled.skipped})`, () => {});
    return;
  }
  const { main, eventgrid, mainText, eventgridText } = compiled;
  const api = moduleNamed(main, 'api');
  const apiChain = [{ template: api.template, deployment: api.deployment }, { template: main }];
  const site = resourcesOf(api.template).find((r) => r.type === 'Microsoft.Web/sites');
  const siteConfig = (name: string): Json =>
    resourcesOf(api.template).find(
      (r) => r.type === 'Microsoft.Web/sites/config' && String(r.name).includes(`'${name}'`),
    );
  const appSettings: Record<string, unknown> = siteConfig('appsettings')?.properties;

  describe('app settings', () => {
    it('are a literal object, so every setting name can be checked', () => {
      expect(appSettings).toBeTypeOf('object');
      expect(Object.keys(appSettings).length).toBeGreaterThan(10);
    });

    it('set every setting the configuration module reads, under the same name', () => {
      const expected = Object.values(SETTINGS)
        .map((s) => s.name)
        .filter((name) => !MUST_BE_ABSENT.includes(name));
      const missing = expected.filter((name) => !(name in appSettings));
      expect(
        missing,
        'settings read by shared/platform/config.ts but not set in infra/app/api.bicep',
      ).toEqual([]);
    });

    it('never set a storage connection string or an Azure OpenAI key', () => {
      for (const name of MUST_BE_ABSENT) expect(Object.keys(appSettings)).not.toContain(name);
      expect(MUST_BE_ABSENT.every((name) => Object.values(SETTINGS).some((s) => s.name === name))).toBe(true);
    });

    it('give the Functions host identity-based storage with blob, queue and table endpoints', () => {
      expect(appSettings.AzureWebJobsStorage__credential).toBe('managedidentity');
      for (const service of ['blob', 'queue', 'table']) {
        expect(appSettings[`AzureWebJobsStorage__${service}ServiceUri`]).toBe(
          `[parameters('${service}Endpoint')]`,
        );
      }
      expect(appSettings.AzureWebJobsStorage__clientId).toBe("[parameters('identityClientId')]");
      expect(appSettings.AZURE_CLIENT_ID).toBe("[parameters('identityClientId')]");
    });

    it('send telemetry with Entra ID as the managed identity', () => {
      expect(appSettings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING).toBe(
        "[format('ClientId={0};Authorization=AAD', parameters('identityClientId'))]",
      );
      expect(String(appSettings.APPLICATIONINSIGHTS_CONNECTION_STRING)).toMatch(/^\[parameters\('/);
    });

    it('contain no key, secret or connection string with a secret', () => {
      for (const [name, value] of Object.entries(appSettings)) {
        // The secrets the app reads (ID_SEALING_KEYS, UPSTREAM_WEBHOOK_SECRET) are Key Vault references.
        if (/key|secret|password/i.test(name))
          expect(String(value), name).toMatch(
            /^\[?parameters\('(idSealingKeysReference|upstreamWebhookSigningReference)'\)\]?$/,
          );
        expect(String(value)).not.toMatch(/AccountKey=|SharedAccessSignature=|\blist[A-Za-z]*\(/i);
      }
    });

    it('read ID_SEALING_KEYS from Key Vault with the app identity, which may read the vault and nothing more', () => {
      const vault = moduleNamed(main, 'keyvault');
      expect(String(api.deployment.properties.parameters.idSealingKeysReference.value)).toMatch(
        /keyvault.*outputs\.idSealingKeysReference/,
      );
      expect(String(vault.template.outputs.idSealingKeysReference.value)).toMatch(
        /^\[format\('@Microsoft\.KeyVault\(VaultName=/,
      );
      expect(String(api.deployment.properties.parameters.upstreamWebhookSigningReference.value)).toMatch(
        /keyvault.*outputs\.upstreamWebhookSigningReference/,
      );
      expect(String(vault.template.outputs.upstreamWebhookSigningReference.value)).toMatch(
        /^\[format\('@Microsoft\.KeyVault\(VaultName=/,
      );
      expect(String(site?.properties.keyVaultReferenceIdentity)).toMatch(/identityId/);
      const kv = resourcesOf(vault.template).find((r) => r.type === 'Microsoft.KeyVault/vaults');
      expect(kv.properties.enableRbacAuthorization).toBe(true);
      const reads = resourcesOfType(vault.template, 'Microsoft.Authorization/roleAssignments').map(
        (a) => a.resource,
      );
      const identityRoles = reads
        .filter((a) => a.properties.principalId === "[parameters('identityPrincipalId')]")
        .map((a) => expandVariables(a.properties.roleDefinitionId, vault.template));
      expect(identityRoles).toHaveLength(1);
      expect(identityRoles[0]).toContain('4633458b-17de-408a-b874-0445c86b69e6'); // Key Vault Secrets User
    });

    it('default to the values the code defaults to', () => {
      const mismatches: string[] = [];
      for (const spec of Object.values(SETTINGS)) {
        if (!('default' in spec) || DERIVED.includes(spec.name) || MUST_BE_ABSENT.includes(spec.name))
          continue;
        const value = defaultValue(appSettings[spec.name], apiChain);
        if (value !== (AZURE_DEFAULTS[spec.name] ?? spec.default))
          mismatches.push(
            `${spec.name}: Bicep ${JSON.stringify(value)}, code ${JSON.stringify(spec.default)}`,
          );
      }
      expect(mismatches).toEqual([]);
      for (const [name, value] of Object.entries(AZURE_DEFAULTS)) {
        expect(defaultValue(appSettings[name], apiChain), name).toBe(value);
        const spec = Object.values(SETTINGS).find((s) => s.name === name);
        expect(spec && 'default' in spec ? spec.default : undefined, name).not.toBe(value);
      }
      expect(appSettings.GATEWAY_MODE).toBe('azure');
    });
  });

  describe('function app', () => {
    it('runs Node 22 on a Flex Consumption (FC1) Linux plan', () => {
      const plan = resourcesOf(api.template).find((r) => r.type === 'Microsoft.Web/serverfarms');
      expect(plan.sku).toEqual({ name: 'FC1', tier: 'FlexConsumption' });
      expect(plan.properties.reserved).toBe(true);
      expect(site.kind).toBe('functionapp,linux');
      expect(site.properties.functionAppConfig.runtime).toEqual({ name: 'node', version: '22' });
      expect(Object.keys(site.properties.functionAppConfig.scaleAndConcurrency).sort()).toEqual([
        'instanceMemoryMB',
        'maximumInstanceCount',
      ]);
    });

    it('deploys its package from blob storage with the managed identity', () => {
      const storage = site.properties.functionAppConfig.deployment.storage;
      expect(storage.type).toBe('blobContainer');
      expect(storage.authentication.type).toBe('UserAssignedIdentity');
      expect(storage.authentication.userAssignedIdentityResourceId).toBe("[parameters('identityId')]");
      expect(site.identity.type).toBe('UserAssigned');
    });

    it('is HTTPS only with TLS 1.2, FTPS and basic-auth publishing off', () => {
      expect(site.properties.httpsOnly).toBe(true);
      expect(site.properties.siteConfig.ftpsState).toBe('Disabled');
      expect(site.properties.siteConfig.minTlsVersion).toBe('1.2');
      const policies = resourcesOf(api.template).filter(
        (r) => r.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies',
      );
      expect(policies.map((p) => p.properties.allow)).toEqual([false, false]);
    });

    it('is tagged as the azd service `api`', () => {
      expect(String(site.tags)).toContain("'azd-service-name', 'api'");
    });

    it('switches App Service Authentication on only with a client id, letting gateway keys through', () => {
      const auth = siteConfig('authsettingsV2');
      expect(auth.condition).toBe("[variables('authEnabled')]");
      expect(api.template.variables.authEnabled).toBe("[not(empty(parameters('authClientId')))]");
      expect(auth.properties.globalValidation).toEqual({
        requireAuthentication: false,
        unauthenticatedClientAction: 'AllowAnonymous',
      });
      expect(auth.properties.identityProviders.azureActiveDirectory.registration.clientId).toBe(
        "[parameters('authClientId')]",
      );
      expect(appSettings.APP_SERVICE_AUTH_ENABLED).toBe("[if(variables('authEnabled'), 'true', 'false')]");
    });
  });

  describe('storage', () => {
    const storage = moduleNamed(main, 'storage');
    const account = resourcesOf(storage.template).find((r) => r.type === 'Microsoft.Storage/storageAccounts');
    const storageChain = [{ template: storage.template, deployment: storage.deployment }, { template: main }];

    it('allows no shared key, no public blob access and TLS 1.2 over HTTPS only', () => {
      expect(account.kind).toBe('StorageV2');
      expect(account.properties.allowSharedKeyAccess).toBe(false);
      expect(account.properties.allowBlobPublicAccess).toBe(false);
      expect(account.properties.minimumTlsVersion).toBe('TLS1_2');
      expect(account.properties.supportsHttpsTrafficOnly).toBe(true);
    });

    it('declares every queue the code names, with its poison queue', () => {
      const queues = defaultValue("[parameters('queueNames')]", storageChain);
      for (const q of Object.values(QUEUES))
        expect(queues).toEqual(expect.arrayContaining([q, `${q}-poison`]));
      const declared = resourcesOf(storage.template).filter(
        (r) => r.type === 'Microsoft.Storage/storageAccounts/queueServices/queues',
      );
      expect(declared).toHaveLength(1);
      expect(declared[0]!.copy?.input ?? declared[0]!.copy).toBeTruthy();
    });

    it('declares every table and container the code names, and the deployment container', () => {
      const containers = defaultValue("[parameters('containerNames')]", storageChain);
      const tables = defaultValue("[parameters('tableNames')]", storageChain);
      expect(containers).toEqual(expect.arrayContaining(Object.values(CONTAINERS)));
      expect(tables).toEqual(expect.arrayContaining(Object.values(TABLES)));
      expect(site.properties.functionAppConfig.deployment.storage.value).toBe(
        "[parameters('deploymentContainerUrl')]",
      );
      expect(storage.deployment.properties.parameters.deploymentContainerName.value).toBeTruthy();
    });
  });

  describe('monitoring and Azure OpenAI', () => {
    it('turn local (key) authentication off on Application Insights and Azure OpenAI', () => {
      const [insights] = resourcesOfType(main, 'Microsoft.Insights/components');
      expect(insights!.resource.properties.DisableLocalAuth).toBe(true);
      const [account] = resourcesOfType(main, 'Microsoft.CognitiveServices/accounts');
      expect(account!.resource.properties.disableLocalAuth).toBe(true);
      expect(account!.resource.properties.customSubDomainName).toBe("[parameters('name')]");
    });

    it('creates the model deployments one after the other', () => {
      const deployments = resourcesOfType(main, 'Microsoft.CognitiveServices/accounts/deployments').map(
        (d) => d.resource,
      );
      expect(deployments).toHaveLength(3);
      // dependsOn holds resource ids, or symbolic names in a languageVersion 2.0 template.
      const { template } = moduleNamed(main, 'openai');
      const isDeployment = (x: string): boolean =>
        x.includes('Microsoft.CognitiveServices/accounts/deployments') ||
        template.resources?.[x]?.type === 'Microsoft.CognitiveServices/accounts/deployments';
      const dependsOnDeployment = deployments.filter((d) => (d.dependsOn ?? []).some(isDeployment));
      expect(dependsOnDeployment).toHaveLength(deployments.length - 1);
    });

    it('limits the region to where Flex Consumption, the Responses API and the default models all are', () => {
      const allowed = [...main.parameters.location.allowedValues].sort();
      expect(allowed).toEqual([...DEPLOYABLE_REGIONS].sort());
      for (const region of NO_FLEX_CONSUMPTION) expect(allowed).not.toContain(region);
    });

    it('takes models and versions as azd environment parameters, with current GA defaults', () => {
      const params = JSON.parse(
        readFileSync(join(repoRoot, 'infra', 'main.parameters.json'), 'utf8'),
      ).parameters;
      for (const [name, variable] of Object.entries(MODEL_PARAMETERS)) {
        expect(main.parameters[name], `main.bicep parameter ${name}`).toBeDefined();
        // azd fills `${VAR=default}`; the default there must be the Bicep default, or the two would drift.
        const match = /^\$\{([A-Z_]+)=(.*)\}$/.exec(String(params[name]?.value));
        expect(match?.[1], `main.parameters.json maps ${name}`).toBe(variable);
        expect(match?.[2], `default of ${name}`).toBe(String(main.parameters[name].defaultValue));
      }
      for (const name of ['chatModel', 'summaryModel', 'imageModel'])
        expect(main.parameters[name].defaultValue).not.toMatch(NOT_FOR_NEW_SUBSCRIPTIONS);
      expect(main.parameters.chatModel.defaultValue).toBe('gpt-5.4-mini');
      expect(main.parameters.chatModelVersion.defaultValue).toBe('2026-03-17');
      expect(main.parameters.imageModel.defaultValue).toBe('gpt-image-2');
      // Image models are offered in few regions and may need approved access: off unless asked for.
      expect(main.parameters.createImageDeployment.defaultValue).toBe(false);
      const { deployment } = moduleNamed(main, 'openai');
      expect(deployment.properties.parameters.createImageDeployment.value).toBe(
        "[parameters('createImageDeployment')]",
      );
    });
  });

  describe('Flex Consumption and the HTTP limit', () => {
    it('accepts only the instance sizes and scale-out limits the platform accepts', () => {
      expect(main.parameters.instanceMemoryMB.allowedValues).toEqual([512, 2048, 4096]);
      expect(main.parameters.instanceMemoryMB.defaultValue).toBe(2048);
      expect(main.parameters.maximumInstanceCount.minValue).toBe(40);
      expect(main.parameters.maximumInstanceCount.maxValue).toBe(1000);
      const scale = site.properties.functionAppConfig.scaleAndConcurrency;
      expect(scale.instanceMemoryMB).toBe("[parameters('instanceMemoryMB')]");
      expect(scale.maximumInstanceCount).toBe("[parameters('maximumInstanceCount')]");
    });

    it('keeps upstream timeout × attempts under the 230 s HTTP limit, by default and at the bounds', () => {
      const timeout = main.parameters.openAiTimeoutMs;
      const retries = main.parameters.openAiMaxRetries;
      expect(timeout.defaultValue * (1 + retries.defaultValue)).toBeLessThanOrEqual(180_000);
      expect(timeout.maxValue * (1 + retries.maxValue)).toBeLessThan(HTTP_LIMIT_MS);
    });
  });

  describe('role assignments', () => {
    const rbac = moduleNamed(main, 'rbac');
    const assignments = resourcesOfType(rbac.template, 'Microsoft.Authorization/roleAssignments').map(
      (a) => a.resource,
    );
    const rolesOf = (principal: string): string[] =>
      assignments
        .filter((a) => a.properties.principalId === `[parameters('${principal}')]`)
        .flatMap(
          (a) =>
            expandVariables(a.properties.roleDefinitionId, rbac.template).match(
              /[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}/g,
            ) ?? [],
        );

    it('give the managed identity every data-plane role it needs', () => {
      expect(rolesOf('identityPrincipalId')).toEqual(expect.arrayContaining(Object.values(ROLES)));
      const passed = String(rbac.deployment.properties.parameters.identityPrincipalId.value);
      expect(passed).toMatch(/identity/);
      expect(passed).toMatch(/outputs\.principalId\.value/);
    });

    it('optionally give the deploying user storage and Azure OpenAI data access', () => {
      expect(rolesOf('userPrincipalId')).toEqual(
        expect.arrayContaining([
          ROLES.storageBlobDataOwner,
          ROLES.storageQueueDataContributor,
          ROLES.storageTableDataContributor,
          ROLES.cognitiveServicesOpenAiUser,
        ]),
      );
      expect(rbac.deployment.properties.parameters.userPrincipalId.value).toBe("[parameters('principalId')]");
    });

    it('are named guid(scope, principal, role)', () => {
      for (const a of assignments)
        expect(a.name).toMatch(/^\[guid\(resourceId\(.*parameters\('(identity|user)PrincipalId'\), /);
    });
  });

  describe('Event Grid', () => {
    it('has a system topic on the storage account in the main deployment', () => {
      const [topic] = resourcesOfType(main, 'Microsoft.EventGrid/systemTopics');
      expect(topic!.resource.properties.topicType).toBe('Microsoft.Storage.StorageAccounts');
      expect(
        moduleNamed(main, 'eventgrid-topic').deployment.properties.parameters.storageAccountId.value,
      ).toMatch(/outputs\.id\.value/);
    });

    it('subscribes the blob trigger to BlobCreated under documents/ through a secure webhook parameter', () => {
      const [subscription] = resourcesOfType(
        eventgrid,
        'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      );
      const { filter, destination } = subscription!.resource.properties;
      expect(filter.includedEventTypes).toEqual(['Microsoft.Storage.BlobCreated']);
      expect(filter.subjectBeginsWith).toBe(`/blobServices/default/containers/${CONTAINERS.documents}/`);
      expect(destination.endpointType).toBe('WebHook');
      expect(destination.properties.endpointUrl).toBe("[parameters('webhookEndpoint')]");
      expect(eventgrid.parameters.webhookEndpoint.type).toBe('securestring');
    });

    it('keeps events it cannot deliver in a dead-letter container, written as the managed identity', () => {
      const [subscription] = resourcesOfType(
        eventgrid,
        'Microsoft.EventGrid/systemTopics/eventSubscriptions',
      );
      const deadLetter = subscription!.resource.properties.deadLetterWithResourceIdentity;
      expect(deadLetter.identity.type).toBe('UserAssigned');
      expect(deadLetter.deadLetterDestination.endpointType).toBe('StorageBlob');
      expect(deadLetter.deadLetterDestination.properties.blobContainerName).toBe(
        "[parameters('deadLetterContainerName')]",
      );
      // The container exists from the start, and the topic carries the identity that writes to it.
      expect(main.variables.deadLetterContainerName).toBe('eventgrid-deadletter');
      expect(main.variables.containerNames).toContain("[variables('deadLetterContainerName')]");
      expect(main.outputs.EVENTGRID_DEADLETTER_CONTAINER.value).toBe(
        "[variables('deadLetterContainerName')]",
      );
      const [topic] = resourcesOfType(main, 'Microsoft.EventGrid/systemTopics');
      expect(topic!.resource.identity.type).toBe('UserAssigned');
    });

    it('is deployed by the hook from the committed compiled template, identical to infra/eventgrid.bicep', () => {
      const committed = JSON.parse(readFileSync(join(repoRoot, 'infra', 'eventgrid.json'), 'utf8'));
      const strip = (t: Json): Json => ({ ...t, metadata: { ...t.metadata, _generator: undefined } });
      expect(
        strip(committed),
        'infra/eventgrid.json is stale: run `bash tools/bicep-check.sh --update-hook-template`',
      ).toEqual(strip(eventgrid));
    });

    it('is wired by the post-deploy hook to the documents-blob function with outputs that main provides', () => {
      for (const script of ['post-deploy.sh', 'post-deploy.ps1']) {
        const text = readFileSync(join(repoRoot, 'infra', 'scripts', script), 'utf8');
        expect(text).toContain('documents-blob');
        expect(text).toContain('Host.Functions.$');
        expect(text).toContain('systemKeys.blobs_extension');
        expect(text).toContain('eventgrid.json');
        // Upstream webhooks: registered for the four ends of a background response, the secret kept in Key Vault.
        expect(Object.keys(main.outputs)).toContain('UPSTREAM_WEBHOOK_SECRET_NAME');
        expect(text).toContain('UPSTREAM_WEBHOOK_SECRET_NAME');
        expect(text).toContain('/openai/v1/dashboard/webhook_endpoints');
        for (const type of ['completed', 'failed', 'cancelled', 'incomplete']) {
          expect(text).toContain(`'response.${type}'`.replace(/'/g, script.endsWith('.sh') ? '"' : "'"));
        }
        for (const [, name] of text.matchAll(/\b(AZURE_[A-Z_]+|EVENTGRID_[A-Z_]+)\b/g)) {
          expect(Object.keys(main.outputs), `${script} uses ${name}`).toContain(name);
        }
        // Every template parameter is given, and nothing else.
        const given = [...text.matchAll(/"?(\w+)"?\s*[:=]\s*@?\{\s*"?value"?\s*[:=]/g)].map((m) => m[1]);
        expect(given.sort(), script).toEqual(
          Object.keys(eventgrid.parameters)
            .filter((p) => p !== 'subscriptionName')
            .sort(),
        );
      }
    });

    it("has a hook that names azd's subscription on every az call and never needs a Bicep CLI", () => {
      for (const script of ['post-deploy.sh', 'post-deploy.ps1']) {
        const text = readFileSync(join(repoRoot, 'infra', 'scripts', script), 'utf8');
        // One logical command per line: join continuation lines (`\` in sh, a backquote in PowerShell).
        const commands = text
          .replace(/[\\`]\r?\n\s*/g, ' ')
          .split('\n')
          .filter((line) =>
            /(^\s*|=\s*|\$\()az (functionapp|deployment|eventgrid|resource|storage|group)\b/.test(line),
          );
        expect(commands.length, script).toBeGreaterThanOrEqual(3);
        for (const command of commands) expect(command, script).toMatch(/--subscription \S+/);
        const code = text.split('\n').filter((line) => !/^\s*#/.test(line));
        expect(code.filter((line) => line.includes('.bicep'))).toEqual([]);
        expect(text).not.toMatch(/az bicep/);
      }
    });
  });

  describe('templates as a whole', () => {
    it('never read keys or secrets', () => {
      for (const text of [mainText, eventgridText]) {
        expect(text).not.toMatch(/\blist[A-Za-z]*\(/);
        expect(text).not.toMatch(/AccountKey=|SharedAccessSignature|primaryKey|connectionStrings/i);
      }
    });

    it('give azd and local runs the outputs they need', () => {
      expect(Object.keys(main.outputs)).toEqual(
        expect.arrayContaining([
          'AZURE_FUNCTION_APP_NAME', 'AZURE_RESOURCE_GROUP', 'SERVICE_API_URI', 'AZURE_OPENAI_ENDPOINT',
          'AZURE_OPENAI_CHAT_DEPLOYMENT', 'AZURE_OPENAI_IMAGE_DEPLOYMENT', 'AZURE_OPENAI_SUMMARY_DEPLOYMENT',
          'AzureWebJobsStorage__blobServiceUri', 'AzureWebJobsStorage__tableServiceUri', 'EVENTGRID_SYSTEM_TOPIC_NAME',
        ]), // prettier-ignore
      );
      // In a developer's shell AZURE_CLIENT_ID would point DefaultAzureCredential at the managed identity.
      expect(Object.keys(main.outputs)).not.toContain('AZURE_CLIENT_ID');
    });
  });
});
