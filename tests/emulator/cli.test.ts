import { describe, expect, it } from 'vitest';
import { CliError, cliOptions } from '../../tools/emulator/cli-options';

describe('emulator command line', () => {
  it('listens on 4010 by default and takes EMULATOR_* variables', () => {
    expect(cliOptions([], {})).toMatchObject({ port: 4010 });
    expect(
      cliOptions([], {
        EMULATOR_PORT: '5000',
        EMULATOR_DEPLOYMENTS: 'a, b',
        EMULATOR_IMAGE_DEPLOYMENTS: 'img',
        EMULATOR_BACKGROUND_DURATION_MS: '10',
        EMULATOR_STREAM_EVENT_DELAY_MS: '1',
        EMULATOR_LATENCY_MS: '2',
        EMULATOR_API_KEY: 'k',
      }),
    ).toEqual({
      port: 5000,
      host: undefined,
      apiKey: 'k',
      deployments: ['a', 'b'],
      imageDeployments: ['img'],
      backgroundDurationMs: 10,
      streamEventDelayMs: 1,
      latencyMs: 2,
    });
  });

  it('prefers flags over the environment', () => {
    expect(
      cliOptions(['--port', '0', '--latency-ms', '7'], { EMULATOR_PORT: '5000', EMULATOR_LATENCY_MS: '1' }),
    ).toMatchObject({
      port: 0,
      latencyMs: 7,
    });
  });

  it('takes the webhook target and secret, and refuses a target without a whsec_ secret', () => {
    const secret = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
    expect(
      cliOptions(
        ['--webhook-url', 'http://127.0.0.1:7071/api/v1/upstream/webhooks', '--webhook-duplicates', '2'],
        {
          EMULATOR_WEBHOOK_SECRET: secret,
        },
      ),
    ).toMatchObject({
      webhookUrl: 'http://127.0.0.1:7071/api/v1/upstream/webhooks',
      webhookSecret: secret,
      webhookDuplicates: 2,
    });
    expect(() => cliOptions(['--webhook-url', 'http://127.0.0.1:1/x'], {})).toThrow(/--webhook-secret/);
    expect(() => cliOptions(['--webhook-url', 'not a url', '--webhook-secret', secret], {})).toThrow(
      CliError,
    );
  });

  it('refuses bad values and unknown flags, and answers --help with nothing to start', () => {
    expect(() => cliOptions(['--port', 'abc'], {})).toThrow(CliError);
    expect(() => cliOptions(['--bogus'], {})).toThrow(CliError);
    expect(cliOptions(['--help'], {})).toBeUndefined();
  });
});
