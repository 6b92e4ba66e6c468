import { beforeEach, describe, expect, it } from 'vitest';
import { validateCreate } from '../../shared/responses/validate';
import { resetConfigForTests } from '../../shared/platform/config';

beforeEach(() => {
  Object.assign(process.env, {
    AZURE_OPENAI_ENDPOINT: 'http://127.0.0.1:9',
    AZURE_OPENAI_CHAT_DEPLOYMENT: 'chat',
    AZURE_OPENAI_IMAGE_DEPLOYMENT: 'image',
    AZURE_OPENAI_SUMMARY_DEPLOYMENT: 'summary',
    AZURE_OPENAI_ALLOWED_DEPLOYMENTS: 'chat,reasoner',
    AzureWebJobsStorage: 'UseDevelopmentStorage=true',
  });
  resetConfigForTests();
});

describe('create request validation', () => {
  it('defaults the model to the chat deployment', () => {
    expect(validateCreate({ input: 'hi' }).model).toBe('chat');
  });

  it('refuses a deployment outside the allow-list and lists the allowed ones', () => {
    expect(() => validateCreate({ model: 'other', input: 'hi' })).toThrow(/chat, reasoner/);
  });

  it.each([
    [{ stream: 'true' }, 'stream'],
    [{ background: 1 }, 'background'],
    [{ model: 42 }, 'model'],
    [{ input: 42 }, 'input'],
    [{ tools: {} }, 'tools'],
    [{ tools: [{ name: 'x' }] }, 'tools[0]'],
    [{ previous_response_id: '../../etc/passwd' }, 'previous_response_id'],
    [{ metadata: 'x' }, 'metadata'],
  ])('names the bad field in %j', (body, param) => {
    expect(() => validateCreate(body as Record<string, unknown>)).toThrow(
      expect.objectContaining({ status: 400, param }),
    );
  });

  it('lets unknown fields through untouched', () => {
    const body = { input: 'x', some_new_field: { a: 1 } };
    validateCreate(body);
    expect(body.some_new_field).toEqual({ a: 1 });
  });
});
