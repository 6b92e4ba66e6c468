/**
 * The infrastructure as Azure will receive it: infra/*.bicep compiled by the real Bicep CLI into ARM JSON, then
 * checked for what matters in production (no secrets, identity everywhere, the app settings the code reads).
 * Skipped, with the reason, only when tools/bicep-check.sh can find no Bicep CLI at all.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../shared/platform/config';
import { CONTAINERS, TABLES } from '../../shared/platform/storage';
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

const ROLES = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb',
  cognitiveServicesOpenAiUser: '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd',
};

/** Regions of the Azure OpenAI "Responses API" how-to, section "Supported regions". */
const RESPONSES_API_REGIONS = [
  'australiaeast', 'brazilsouth', 'canadacentral', 'canadaeast', 'eastus', 'eastus2', 'francecentral',
  'germanywestcentral', 'italynorth', 'japaneast', 'koreacentral', 'northcentralus', 'norwayeast', 'polandcentral',
  'southafricanorth', 'southcentralus', 'southeastasia', 'southindia', 'spaincentral', 'swedencentral',
  'switzerlandnorth', 'uaenorth', 'uksouth', 'westus', 'westus3',
]; // prettier-ignore

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
        expect(name).not.toMatch(/key|secret|password/i);
        expect(String(value)).not.toMatch(/AccountKey=|SharedAccessSignature=|\blist[A-Za-z]*\(/i);
      }
    });

    it('default to the values the code defaults to', () => {
      const mismatches: string[] = [];
      for (const spec of Object.values(SETTINGS)) {
        if (!('default' in spec) || DERIVED.includes(spec.name) || MUST_BE_ABSENT.includes(spec.name))
          continue;
        const value = defaultValue(appSettings[spec.name], apiChain);
        if (value !== spec.default)
          mismatches.push(
            `${spec.name}: Bicep ${JSON.stringify(value)}, code ${JSON.stringify(spec.default)}`,
          );
      }
      expect(mismatches).toEqual([]);
      expect(defaultValue(appSettings.POLL_SCHEDULE, apiChain)).toBe('*/5 * * * * *');
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

    it('limits the region to where the Responses API is available', () => {
      expect([...main.parameters.location.allowedValues].sort()).toEqual([...RESPONSES_API_REGIONS].sort());
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

    it('is wired by the post-deploy hook to the documents-blob function with outputs that main provides', () => {
      for (const script of ['post-deploy.sh', 'post-deploy.ps1']) {
        const text = readFileSync(join(repoRoot, 'infra', 'scripts', script), 'utf8');
        expect(text).toContain('documents-blob');
        expect(text).toContain('Host.Functions.$');
        expect(text).toContain('systemKeys.blobs_extension');
        expect(text).toContain('eventgrid.bicep');
        for (const [, name] of text.matchAll(/\b(AZURE_[A-Z_]+|EVENTGRID_[A-Z_]+)\b/g)) {
          expect(Object.keys(main.outputs), `${script} uses ${name}`).toContain(name);
        }
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
