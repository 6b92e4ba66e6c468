import { describe, expect, it } from 'vitest';
import { hashRequestBody, validateIdempotencyKey } from '../../shared/idempotency/keys';

describe('idempotency keys and body hashes', () => {
  it('hash the same JSON the same regardless of key order', () => {
    expect(hashRequestBody({ a: 1, b: { c: [1, { d: 2, e: 3 }] } })).toBe(
      hashRequestBody({ b: { c: [1, { e: 3, d: 2 }] }, a: 1 }),
    );
    expect(hashRequestBody({ a: 1 })).not.toBe(hashRequestBody({ a: 2 }));
    expect(hashRequestBody({ a: [1, 2] })).not.toBe(hashRequestBody({ a: [2, 1] }));
  });

  it('accept 1-255 printable characters and refuse the rest with a 400', () => {
    expect(validateIdempotencyKey(' 7c1b-44aa ')).toBe('7c1b-44aa');
    expect(() => validateIdempotencyKey('')).toThrow(expect.objectContaining({ status: 400 }));
    expect(() => validateIdempotencyKey('a b')).toThrow(
      expect.objectContaining({ code: 'invalid_idempotency_key' }),
    );
    expect(() => validateIdempotencyKey('x'.repeat(256))).toThrow();
    expect(() => validateIdempotencyKey('é')).toThrow();
  });
});
