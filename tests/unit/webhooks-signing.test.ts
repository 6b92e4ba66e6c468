import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { buildEvent, eventId } from '../../shared/webhooks/events';
import { newWebhookSecret, signWebhook, webhookHeaders } from '../../shared/webhooks/signing';

describe('webhook signing (Standard Webhooks)', () => {
  it('produces headers that standardwebhooks verifies', () => {
    const secret = newWebhookSecret();
    const event = buildEvent('response.completed', { id: 'resp_123', status: 'completed' });
    const body = JSON.stringify(event);
    const headers = webhookHeaders(secret, event.id, body);
    expect(headers['webhook-id']).toBe(event.id);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(event);
  });

  it('matches the library signature byte for byte', () => {
    // A fixed, made-up key (not a credential), so both sides sign the same bytes.
    const secret = `whsec_${Buffer.from('fixed test signing key').toString('base64')}`;
    const at = new Date(1_700_000_000_000);
    expect(signWebhook(secret, 'msg_1', 1_700_000_000, '{"a":1}')).toBe(
      new Webhook(secret).sign('msg_1', at, '{"a":1}'),
    );
  });

  it('fails verification for a changed body, another id, another secret or a stale timestamp', () => {
    const secret = newWebhookSecret();
    const body = '{"type":"response.failed"}';
    const headers = webhookHeaders(secret, 'evt_1', body);
    expect(() => new Webhook(secret).verify('{"type":"response.completed"}', headers)).toThrow();
    expect(() => new Webhook(secret).verify(body, { ...headers, 'webhook-id': 'evt_2' })).toThrow();
    expect(() => new Webhook(newWebhookSecret()).verify(body, headers)).toThrow();
    const old = webhookHeaders(secret, 'evt_1', body, Date.now() - 3_600_000);
    expect(() => new Webhook(secret).verify(body, old)).toThrow();
  });

  it('secrets are whsec_ plus 32 random bytes', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_/);
    expect(Buffer.from(a.slice(6), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe('webhook events', () => {
  it("follow OpenAI's event shape", () => {
    const event = buildEvent('response.expired', { id: 'resp_9', status: 'expired' }, 1_700_000_000_500);
    expect(event).toEqual({
      id: eventId('resp_9', 'response.expired'),
      object: 'event',
      type: 'response.expired',
      created_at: 1_700_000_000,
      data: { id: 'resp_9', status: 'expired' },
    });
  });

  it('have ids derived from subject and type, so a retried finalization queues the same event', () => {
    expect(eventId('resp_1', 'response.completed')).toBe(eventId('resp_1', 'response.completed'));
    expect(eventId('resp_1', 'response.completed')).not.toBe(eventId('resp_1', 'response.failed'));
    expect(eventId('resp_1', 'response.completed')).toMatch(/^evt_[0-9a-f]{32}$/);
  });
});
