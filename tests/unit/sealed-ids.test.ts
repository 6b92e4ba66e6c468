import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  configureIdSealing,
  createIdSealer,
  generateIdSealingKeyEntry,
  IdSealingConfigError,
  isIdSealingConfigured,
  MAX_SEALED_ID_LENGTH,
  MAX_UPSTREAM_ID_LENGTH,
  openId,
  parseIdSealingKeys,
  resetIdSealingForTests,
  sealId,
  type IdSealingKey,
} from '../../shared/platform/sealed-ids';

const key = (kid: string): IdSealingKey => ({ kid, secret: randomBytes(32) });
const A = 'key:alpha';
const B = 'key:beta';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const alnum = (n: number) =>
  randomBytes(n * 2)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, n);

// The shapes ids take upstream (OpenAI and Azure OpenAI), by prefix.
const UPSTREAM_IDS: [string, string][] = [
  ['response', `resp_${hex(24)}`],
  ['output message', `msg_${hex(24)}`],
  ['function call', `fc_${hex(24)}`],
  ['reasoning', `rs_${hex(24)}`],
  ['container', `cntr_${hex(24)}`],
  ['OpenAI file', `file-${alnum(22)}`],
  ['Azure file', `assistant-${alnum(22)}`],
  ['container file', `cfile_${hex(16)}`],
  ['vector store', `vs_${alnum(24)}`],
  ['conversation', `conv_${hex(24)}`],
  ['code interpreter call', `ci_${hex(24)}`],
  ['MCP approval request', `mcpr_${hex(24)}`],
  ['MCP call', `mcp_${hex(24)}`],
  ['image generation call', `ig_${hex(24)}`],
  ['web search call', `ws_${hex(24)}`],
  ['file search call', `fs_${hex(24)}`],
  ['custom tool call', `ctc_${hex(24)}`],
  ['local shell call', `lsh_${hex(24)}`],
  ['prompt', `pmpt_${hex(24)}`],
  ['compaction', `cmp_${hex(24)}`],
  ['uppercase hex tail', `resp_${hex(24).toUpperCase()}`],
  ['odd-length hex tail', `msg_${hex(24)}a`],
  ['two-part prefix', `cu_sc_${alnum(20)}`],
  ['no prefix', `${hex(20)}`],
  ['looks like the fallback prefix', `id_${hex(8)}`],
  ['other characters', 'item:42/é'],
];

const URL_SAFE = /^[A-Za-z0-9_-]+$/;

describe('sealed ids', () => {
  const sealer = createIdSealer([key('k1')]);

  it.each(UPSTREAM_IDS)('a %s id round-trips for its caller', (_, upstream) => {
    const sealed = sealer.seal(A, upstream);
    expect(sealed).not.toBe(upstream);
    expect(sealer.open(A, sealed)).toBe(upstream);
  });

  it.each(UPSTREAM_IDS.filter(([what]) => what !== 'no prefix' && what !== 'other characters'))(
    'a %s id keeps its prefix, URL-safe characters and a bounded length',
    (_, upstream) => {
      const sealed = sealer.seal(A, upstream);
      const prefix = /^[A-Za-z0-9]+[_-]/.exec(upstream)![0];
      expect(sealed.startsWith(prefix)).toBe(true);
      expect(sealed).toMatch(URL_SAFE);
      expect(sealed.length).toBeLessThanOrEqual(MAX_SEALED_ID_LENGTH);
    },
  );

  it('gives an upstream id without a prefix one, and keeps any id URL-safe', () => {
    const plain = sealer.seal(A, hex(20));
    expect(plain).toMatch(/^id_[A-Za-z0-9_-]+$/);
    const odd = sealer.seal(A, 'item:42/é');
    expect(odd).toMatch(URL_SAFE);
  });

  it('keeps an Azure response id short (packed hex)', () => {
    const sealed = sealer.seal(A, `resp_${hex(24)}`);
    // 2 + 2 (key id) + 16 (MAC) + 24 bytes → 59 base64url characters after `resp_`.
    expect(sealed.length).toBe(5 + 59);
  });

  it('stays within 200 characters for the longest id it seals, with the longest prefix and key id', () => {
    const longest = createIdSealer([key('abcdefgh')]);
    const upstream = `${'p'.repeat(16)}_${'x'.repeat(MAX_UPSTREAM_ID_LENGTH - 17)}`;
    expect(upstream.length).toBe(MAX_UPSTREAM_ID_LENGTH);
    const sealed = longest.seal(A, upstream);
    expect(sealed.length).toBeLessThanOrEqual(MAX_SEALED_ID_LENGTH);
    expect(longest.open(A, sealed)).toBe(upstream);
    expect(() => longest.seal(A, `${upstream}x`)).toThrow(/at most 100/);
    expect(() => longest.seal(A, '')).toThrow(/empty/);
  });

  it('seals the same caller and id the same way every time (ids stay stable across retrieves)', () => {
    const upstream = `resp_${hex(24)}`;
    const other = createIdSealer([{ kid: 'k1', secret: Buffer.from(randomBytes(32)) }]);
    expect(sealer.seal(A, upstream)).toBe(sealer.seal(A, upstream));
    expect(other.seal(A, upstream)).not.toBe(sealer.seal(A, upstream));
  });

  it('does not open another caller’s id', () => {
    for (const [, upstream] of UPSTREAM_IDS) {
      const sealedForB = sealer.seal(B, upstream);
      expect(sealer.open(A, sealedForB)).toBeUndefined();
      expect(sealer.open(B, sealedForB)).toBe(upstream);
    }
  });

  it('binds the whole caller id (no prefix or concatenation tricks)', () => {
    const upstream = `resp_${hex(24)}`;
    const sealed = sealer.seal('key:a', upstream);
    for (const caller of ['key:ab', 'key:', 'key:A', 'entra:a', 'key:a ', ' key:a']) {
      expect(sealer.open(caller, sealed)).toBeUndefined();
    }
    // The open cache is per caller too: a hit for A is no hit for B.
    expect(sealer.open('key:a', sealed)).toBe(upstream);
    expect(sealer.open('key:ab', sealed)).toBeUndefined();
  });

  it('refuses any changed character', () => {
    const upstream = `msg_${hex(24)}`;
    const sealed = sealer.seal(A, upstream);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    for (let i = 0; i < sealed.length; i++) {
      const c = sealed[i]!;
      const replacement = alphabet[(alphabet.indexOf(c) + 1 + (i % 7)) % alphabet.length]!;
      const tampered = sealed.slice(0, i) + replacement + sealed.slice(i + 1);
      expect(sealer.open(A, tampered), `position ${i}`).toBeUndefined();
    }
  });

  it('refuses truncated, extended, re-prefixed and raw ids', () => {
    const upstream = `resp_${hex(24)}`;
    const sealed = sealer.seal(A, upstream);
    expect(sealer.open(A, sealed.slice(0, -1))).toBeUndefined();
    expect(sealer.open(A, `${sealed}A`)).toBeUndefined();
    expect(sealer.open(A, `msg_${sealed.slice(5)}`)).toBeUndefined();
    expect(sealer.open(A, upstream)).toBeUndefined();
    for (const junk of ['', 'resp_', 'resp_AA', '_', 'resp_!!!!', 'resp_ab==', 'x'.repeat(500), 'resp_\n']) {
      expect(sealer.open(A, junk)).toBeUndefined();
    }
  });

  it('refuses a non-canonical encoding of a valid id (one upstream id, one sealed form)', () => {
    const upstream = `resp_${hex(24)}`;
    const sealed = sealer.seal(A, upstream);
    const raw = Buffer.from(sealed.slice(5), 'base64url');
    expect(raw[0]).toBe(2); // packed hex
    // Same key id and MAC, the upstream id spelled out in UTF-8 instead: the MAC still matches, the form does not.
    const kidLength = raw[1]!;
    const head = Buffer.from(raw.subarray(0, 2 + kidLength + 16));
    head[0] = 1;
    const respelled = `resp_${Buffer.concat([head, Buffer.from(upstream)]).toString('base64url')}`;
    expect(sealer.open(A, respelled)).toBeUndefined();
    // Unused trailing bits of base64: a different string that decodes to the same bytes.
    const body = sealed.slice(5);
    if (body.length % 4 !== 0) {
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(body.at(-1)!);
      const sibling = alphabet[last ^ 1]!;
      const malleable = `resp_${body.slice(0, -1)}${sibling}`;
      expect(Buffer.from(malleable.slice(5), 'base64url').equals(raw)).toBe(true);
      expect(sealer.open(A, malleable)).toBeUndefined();
    }
  });

  it('refuses an id sealed under a key id the ring does not hold', () => {
    const old = createIdSealer([key('k0')]);
    const sealed = old.seal(A, `resp_${hex(24)}`);
    expect(sealer.open(A, sealed)).toBeUndefined();
  });

  it('binds the key id: the same secret under another key id does not open it', () => {
    const secret = randomBytes(32);
    const one = createIdSealer([{ kid: 'k1', secret }]);
    const sealed = one.seal(A, `resp_${hex(24)}`);
    const raw = Buffer.from(sealed.slice(5), 'base64url');
    raw.write('k2', 2, 'latin1');
    const relabelled = `resp_${raw.toString('base64url')}`;
    const both = createIdSealer([
      { kid: 'k2', secret },
      { kid: 'k1', secret },
    ]);
    expect(both.open(A, sealed)).toBeDefined();
    expect(both.open(A, relabelled)).toBeUndefined();
  });

  it('rotates: new ids are sealed with the current key, old ones open while their key stays in the ring', () => {
    const k1 = key('k1');
    const k2 = key('k2');
    const before = createIdSealer([k1]);
    const upstream = `resp_${hex(24)}`;
    const oldId = before.seal(A, upstream);

    const during = createIdSealer([k2, k1]);
    expect(during.currentKid).toBe('k2');
    expect(during.open(A, oldId)).toBe(upstream);
    const newId = during.seal(A, upstream);
    expect(newId).not.toBe(oldId);
    expect(during.open(A, newId)).toBe(upstream);
    expect(before.open(A, newId)).toBeUndefined(); // sealed with k2, not k1

    const after = createIdSealer([k2]);
    expect(after.open(A, newId)).toBe(upstream);
    expect(after.open(A, oldId)).toBeUndefined();
  });

  it('refuses a malformed key ring', () => {
    expect(() => createIdSealer([])).toThrow(IdSealingConfigError);
    expect(() => createIdSealer([{ kid: 'k1', secret: randomBytes(16) }])).toThrow(/32 bytes/);
    expect(() => createIdSealer([key('k1'), key('k1')])).toThrow(/twice/);
    expect(() => createIdSealer([key('toolongkid')])).toThrow(/1 to 8/);
  });
});

describe('the ID_SEALING_KEYS setting', () => {
  const secret = () => randomBytes(32).toString('base64');

  it('reads key ids and secrets, first is current', () => {
    const s1 = randomBytes(32);
    const s2 = randomBytes(48);
    const keys = parseIdSealingKeys(` k2:${s2.toString('base64')} , k1:${s1.toString('base64url')}`);
    expect(keys.map((k) => k.kid)).toEqual(['k2', 'k1']);
    expect(keys[0]!.secret.equals(s2)).toBe(true);
    expect(keys[1]!.secret.equals(s1)).toBe(true);
  });

  it.each([
    [undefined, /ID_SEALING_KEYS is not set/],
    ['  ', /ID_SEALING_KEYS is not set/],
    ['k1', /entry 1 of 1 is not 'kid:base64secret'/],
    [`bad kid!:${'A'.repeat(44)}`, /key id 'bad kid!' must be 1 to 8 letters or digits/],
    [`waytoolongkid:${'A'.repeat(44)}`, /must be 1 to 8 letters or digits/],
    [`:${'A'.repeat(44)}`, /must be 1 to 8 letters or digits/],
    ['k1:not base64!', /key id 'k1'\): the secret is not base64/],
    [`k1:${randomBytes(16).toString('base64')}`, /the secret is 16 bytes; it must be at least 32/],
    [`k1:${'A'.repeat(44)},k1:${'B'.repeat(44)}`, /entry 2 of 2: the key id 'k1' appears twice/],
  ])('names what is wrong in %j', (value, message) => {
    expect(() => parseIdSealingKeys(value)).toThrow(message);
  });

  it('never puts a secret in its messages, and names the setting it was given', () => {
    const short = randomBytes(16).toString('base64');
    let message = '';
    try {
      parseIdSealingKeys(`k1:${secret()},k2:${short}`, 'MY_KEYS');
    } catch (e) {
      expect(e).toBeInstanceOf(IdSealingConfigError);
      expect((e as IdSealingConfigError).setting).toBe('MY_KEYS');
      message = (e as Error).message;
    }
    expect(message).toMatch(/^MY_KEYS entry 2 of 2/);
    expect(message).not.toContain(short);
  });

  it('generates entries it accepts', () => {
    const entry = generateIdSealingKeyEntry('local');
    const [parsed] = parseIdSealingKeys(entry);
    expect(parsed!.kid).toBe('local');
    expect(parsed!.secret.length).toBe(32);
    expect(generateIdSealingKeyEntry()).not.toBe(generateIdSealingKeyEntry());
    expect(() => generateIdSealingKeyEntry('no-dash')).toThrow();
  });
});

describe('the configured key ring', () => {
  afterAll(() => resetIdSealingForTests());

  it('fails closed until configured', () => {
    resetIdSealingForTests();
    expect(isIdSealingConfigured()).toBe(false);
    expect(() => sealId(A, 'resp_1')).toThrow(/not configured/);
    expect(() => openId(A, 'resp_1')).toThrow(/not configured/);
  });

  it('seals and opens with the setting value, and forgets the old ring when reconfigured', () => {
    configureIdSealing(generateIdSealingKeyEntry('k1'));
    expect(isIdSealingConfigured()).toBe(true);
    const upstream = `resp_${hex(24)}`;
    const sealed = sealId(A, upstream);
    expect(openId(A, sealed)).toBe(upstream); // now cached
    expect(openId(B, sealed)).toBeUndefined();
    configureIdSealing([key('k1')]); // same key id, new secret
    expect(openId(A, sealed)).toBeUndefined();
    expect(sealId(A, upstream)).not.toBe(sealed);
  });

  it('refuses a malformed setting value', () => {
    expect(() => configureIdSealing('k1:short')).toThrow(IdSealingConfigError);
  });
});
