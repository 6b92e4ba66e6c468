import { describe, expect, it } from 'vitest';
import { loadConfig, SETTINGS } from '../../shared/platform/config';
import { generateIdSealingKeyEntry } from '../../shared/platform/sealed-ids';

const minimal = {
  AZURE_OPENAI_ENDPOINT: 'https://example.openai.azure.com/',
  AZURE_OPENAI_CHAT_DEPLOYMENT: 'chat',
  AZURE_OPENAI_IMAGE_DEPLOYMENT: 'image',
  AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'summary',
  AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  ID_SEALING_KEYS: generateIdSealingKeyEntry('t1'),
};

describe('configuration', () => {
  it('applies defaults and derives the allow-list from the chat and summary deployments', () => {
    const config = loadConfig(minimal);
    expect(config.openaiEndpoint).toBe('https://example.openai.azure.com');
    expect(config.openaiTokenScope).toBe('https://ai.azure.com/.default');
    expect(config.allowedDeployments).toEqual(['chat', 'summary']);
    expect(config.storage).toEqual({
      kind: 'connectionString',
      connectionString: 'UseDevelopmentStorage=true',
    });
  });

  it('names the missing setting', () => {
    const { AZURE_OPENAI_ENDPOINT: _, ...rest } = minimal;
    expect(() => loadConfig(rest)).toThrow(/AZURE_OPENAI_ENDPOINT/);
  });

  it('refuses to start without id sealing keys, or with a weak one, naming ID_SEALING_KEYS', () => {
    const { ID_SEALING_KEYS: _, ...rest } = minimal;
    expect(() => loadConfig(rest)).toThrow(/ID_SEALING_KEYS/);
    expect(() => loadConfig({ ...minimal, ID_SEALING_KEYS: 'k1:c2hvcnQ=' })).toThrow(
      /ID_SEALING_KEYS.*at least 32/,
    );
    expect(() => loadConfig({ ...minimal, SHARED_PROMPT_IDS: 'pmpt_1, ../x' })).toThrow(/SHARED_PROMPT_IDS/);
    expect(loadConfig({ ...minimal, SHARED_PROMPT_IDS: 'pmpt_1, pmpt_2' }).sharedPromptIds).toEqual(
      new Set(['pmpt_1', 'pmpt_2']),
    );
  });

  it('names a malformed setting and what it must be', () => {
    expect(() => loadConfig({ ...minimal, AZURE_OPENAI_MAX_RETRIES: 'many' })).toThrow(
      /AZURE_OPENAI_MAX_RETRIES must be an integer/,
    );
    expect(() => loadConfig({ ...minimal, AZURE_OPENAI_ENDPOINT: 'not a url' })).toThrow(
      /AZURE_OPENAI_ENDPOINT must be an absolute URL/,
    );
    expect(() => loadConfig({ ...minimal, APP_SERVICE_AUTH_ENABLED: 'maybe' })).toThrow(
      /APP_SERVICE_AUTH_ENABLED must be true or false/,
    );
  });

  it('reads UPSTREAM_WEBHOOK_SECRET as a whsec_ secret; an unresolved Key Vault reference means off', () => {
    expect(loadConfig(minimal).upstreamWebhookSecret).toBeUndefined();
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
    expect(loadConfig({ ...minimal, UPSTREAM_WEBHOOK_SECRET: secret }).upstreamWebhookSecret).toBe(secret);
    const reference = '@Microsoft.KeyVault(VaultName=kv-x;SecretName=upstream-webhook-secret)';
    expect(
      loadConfig({ ...minimal, UPSTREAM_WEBHOOK_SECRET: reference }).upstreamWebhookSecret,
    ).toBeUndefined();
    for (const bad of ['whsec_short', 'whsec_not base64 at all!!', 'tiny']) {
      expect(() => loadConfig({ ...minimal, UPSTREAM_WEBHOOK_SECRET: bad })).toThrow(
        /UPSTREAM_WEBHOOK_SECRET must be the endpoint's signing secret/,
      );
    }
  });

  it('accepts identity-based storage settings instead of a connection string', () => {
    const { AzureWebJobsStorage: _, ...rest } = minimal;
    const config = loadConfig({
      ...rest,
      AzureWebJobsStorage__blobServiceUri: 'https://acct.blob.core.windows.net',
      AzureWebJobsStorage__tableServiceUri: 'https://acct.table.core.windows.net',
      AzureWebJobsStorage__queueServiceUri: 'https://acct.queue.core.windows.net',
    });
    expect(config.storage.kind).toBe('identity');
    expect(() => loadConfig(rest)).toThrow(/AzureWebJobsStorage/);
  });

  it('lists every setting with a description', () => {
    for (const spec of Object.values(SETTINGS)) expect(spec.description.length).toBeGreaterThan(10);
  });
});
