/**
 * UPSTREAM_WEBHOOK_SECRET: the Standard Webhooks signing secret Azure OpenAI returned when the endpoint was
 * registered (`whsec_` and base64). An App Service Key Vault reference that did not resolve (the secret is not in
 * the vault yet: the endpoint was never registered) reaches the app as the reference text itself; that is "not
 * configured", not a secret.
 */
export function parseWebhookSecret(raw: string, name: string): string | undefined {
  if (raw.startsWith('@Microsoft.KeyVault(')) return undefined;
  const base64 = raw.startsWith('whsec_') ? raw.slice('whsec_'.length) : undefined;
  const bytes = base64 === undefined ? Buffer.byteLength(raw) : Buffer.from(base64, 'base64').length;
  if (bytes < 16 || (base64 !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(base64))) {
    throw new Error(
      `Setting ${name} must be the endpoint's signing secret as Azure OpenAI returned it (\`whsec_\` and base64 of 16+ bytes); got ${raw.length} characters that are not one.`,
    );
  }
  return raw;
}
