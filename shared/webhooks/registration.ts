/**
 * A caller's webhook registration: one URL, its signing secret, and whether the caller may name other URLs per
 * request (`X-Webhook-Url`). It lives on the caller's row of the `callers` table (partition `caller`, row =
 * caller name), next to the rest of what the keys tool manages. The secret is stored as is because every
 * delivery is signed with it; it is shown once, when registered.
 */
import type { Caller } from '../callers/auth';
import { badRequest } from '../platform/errors';
import { validateOutboundUrl } from '../platform/outbound';
import { isNotFound, table } from '../platform/storage';
import { storageNames } from '../platform/storage-names';
import { newWebhookSecret } from './signing';

const CALLER_PARTITION = 'caller';

export interface WebhookRegistration {
  url: string;
  secret: string;
  allowRequestUrls: boolean;
  registeredAt: string;
}

interface CallerRow {
  webhookUrl?: string;
  webhookSecret?: string;
  webhookAllowRequestUrls?: boolean;
  webhookRegisteredAt?: string;
}

// Deliveries and background creates read the registration often; a short cache keeps that off the table.
// A change takes effect within CACHE_MS on other instances (at once on the one that made it).
const CACHE_MS = 30_000;
const cache = new Map<string, { value: WebhookRegistration | undefined; until: number }>();

/** The caller name a registration is kept under: gateway-key callers only (Entra callers have no caller row). */
export function callerNameFor(callerId: string): string | undefined {
  return callerId.startsWith('key:') ? callerId.slice(4) : undefined;
}

async function callersTable() {
  return table(storageNames().callers);
}

/**
 * Registers (or replaces) `caller`'s webhook and returns it with a new signing secret. The URL is checked now
 * (https, public addresses); throws a 400 ApiError saying why it is refused, or an Error if the caller has
 * never been given a key.
 */
export async function registerWebhook(
  callerName: string,
  url: string,
  options: { allowRequestUrls?: boolean } = {},
): Promise<WebhookRegistration> {
  const check = await validateOutboundUrl(url);
  if (!check.ok) throw badRequest(check.reason, 'webhook_url', 'invalid_webhook_url');
  const registration: WebhookRegistration = {
    url: check.url.toString(),
    secret: newWebhookSecret(),
    allowRequestUrls: options.allowRequestUrls ?? false,
    registeredAt: new Date().toISOString(),
  };
  const callers = await callersTable();
  try {
    await callers.updateEntity<CallerRow & { partitionKey: string; rowKey: string }>(
      {
        partitionKey: CALLER_PARTITION,
        rowKey: callerName,
        webhookUrl: registration.url,
        webhookSecret: registration.secret,
        webhookAllowRequestUrls: registration.allowRequestUrls,
        webhookRegisteredAt: registration.registeredAt,
      },
      'Merge',
    );
  } catch (e) {
    if (isNotFound(e)) {
      throw new Error(
        `No caller named '${callerName}'. Create a key first: npm run keys -- create ${callerName}`,
        {
          cause: e,
        },
      );
    }
    throw e;
  }
  cache.delete(callerName);
  return registration;
}

/** Removes `caller`'s webhook; deliveries not yet made then fail for want of a signing secret. */
export async function removeWebhook(callerName: string): Promise<boolean> {
  const callers = await callersTable();
  cache.delete(callerName);
  try {
    await callers.updateEntity(
      {
        partitionKey: CALLER_PARTITION,
        rowKey: callerName,
        webhookUrl: '',
        webhookSecret: '',
        webhookAllowRequestUrls: false,
      },
      'Merge',
    );
    return true;
  } catch (e) {
    if (isNotFound(e)) return false;
    throw e;
  }
}

/** The caller's registration, or undefined. Cached for 30 s. */
export async function getWebhookRegistration(
  callerName: string | undefined,
): Promise<WebhookRegistration | undefined> {
  if (!callerName) return undefined;
  const now = Date.now();
  const hit = cache.get(callerName);
  if (hit && hit.until > now) return hit.value;
  const callers = await callersTable();
  let value: WebhookRegistration | undefined;
  try {
    const row = await callers.getEntity<CallerRow>(CALLER_PARTITION, callerName);
    if (row.webhookUrl && row.webhookSecret) {
      value = {
        url: row.webhookUrl,
        secret: row.webhookSecret,
        allowRequestUrls: row.webhookAllowRequestUrls === true,
        registeredAt: row.webhookRegisteredAt ?? '',
      };
    }
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  if (cache.size > 10_000) cache.clear();
  cache.set(callerName, { value, until: now + CACHE_MS });
  return value;
}

export function clearWebhookCacheForTests(): void {
  cache.clear();
}

/**
 * Where a background create's completion event goes: the validated `X-Webhook-Url` when the caller's
 * registration allows per-request URLs, else the registered URL, else nowhere (undefined). A refused header is
 * a 400 ApiError naming the reason.
 */
export async function resolveWebhookTarget(
  caller: Caller,
  requestUrlHeader?: string | null,
): Promise<string | undefined> {
  const registration = await getWebhookRegistration(callerNameFor(caller.id));
  const requested = requestUrlHeader?.trim();
  if (!requested) return registration?.url;
  if (!registration) {
    throw badRequest(
      'X-Webhook-Url needs a webhook registration for this caller (it holds the signing secret): ' +
        'npm run keys -- webhook <caller> <url> --allow-request-urls',
      'X-Webhook-Url',
      'webhook_not_registered',
    );
  }
  if (!registration.allowRequestUrls) {
    throw badRequest(
      "This caller's webhook registration does not allow per-request URLs; register with --allow-request-urls.",
      'X-Webhook-Url',
      'webhook_url_not_allowed',
    );
  }
  const check = await validateOutboundUrl(requested);
  if (!check.ok) throw badRequest(check.reason, 'X-Webhook-Url', 'invalid_webhook_url');
  return check.url.toString();
}
