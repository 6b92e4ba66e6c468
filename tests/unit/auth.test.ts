import { HttpRequest } from '@azure/functions';
import { beforeEach, describe, expect, it } from 'vitest';
import { authenticate, callerBlobPrefix } from '../../shared/callers/auth';
import { resetConfigForTests } from '../../shared/platform/config';

const principal = (claims: { typ: string; val: string }[]) =>
  Buffer.from(JSON.stringify({ auth_typ: 'aad', claims })).toString('base64');

function request(headers: Record<string, string>) {
  return new HttpRequest({ method: 'GET', url: 'http://localhost/api/v1/responses/x', headers });
}

function configure(appServiceAuth: boolean) {
  Object.assign(process.env, {
    AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9',
    AZURE_OPENAI_CHAT_DEPLOYMENT: 'chat',
    AZURE_OPENAI_IMAGE_DEPLOYMENT: 'image',
    AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'summary',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
    APP_SERVICE_AUTH_ENABLED: String(appServiceAuth),
  });
  resetConfigForTests();
}

describe('caller identity from App Service Authentication', () => {
  beforeEach(() => configure(true));

  it('identifies an Entra caller by object id from the principal headers', async () => {
    const caller = await authenticate(
      request({
        'x-ms-client-principal': principal([
          { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'abc-123' },
          { typ: 'appid', val: 'svc' },
        ]),
      }),
    );
    expect(caller).toEqual({ id: 'entra:abc-123', source: 'entra', name: 'svc' });
    expect(callerBlobPrefix(caller)).toBe('entra/abc-123/');
  });

  it('fails closed on a malformed principal', async () => {
    await expect(authenticate(request({ 'x-ms-client-principal': 'not base64 json' }))).rejects.toMatchObject(
      { status: 401 },
    );
  });

  it('ignores the principal headers when App Service Authentication is off', async () => {
    configure(false);
    await expect(authenticate(request({ 'x-ms-client-principal-id': 'abc-123' }))).rejects.toMatchObject({
      status: 401,
    });
  });

  it('rejects a key that is not a gateway key without a storage lookup', async () => {
    await expect(authenticate(request({ authorization: 'Bearer sk-something' }))).rejects.toMatchObject({
      status: 401,
    });
  });
});

describe('App Service Authentication in front of gateway keys', () => {
  beforeEach(() => configure(true));

  it('takes the platform’s principal over the bearer token it validated', async () => {
    const caller = await authenticate(
      request({
        authorization: 'Bearer eyJhbGciOi.jwt.from-entra',
        'x-ms-client-principal-id': 'abc-123',
        'x-ms-client-principal-name': 'svc',
      }),
    );
    expect(caller.id).toBe('entra:abc-123');
  });
});
