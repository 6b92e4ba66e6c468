import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  checkUrlShape,
  classifyAddress,
  OutboundRefused,
  postGuarded,
  setResolverForTests,
  validateOutboundUrl,
} from '../../shared/platform/outbound';

const refused = (address: string) => {
  const c = classifyAddress(address);
  return c.public ? undefined : c.reason;
};

describe('address classification', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.10', 'reserved'],
  ])('refuses %s (%s)', (address, why) => {
    expect(refused(address)).toContain(why);
  });

  it('refuses the instance metadata and Azure platform addresses by name', () => {
    expect(refused('169.254.169.254')).toContain('metadata');
    expect(refused('168.63.129.16')).toContain('WireServer');
  });

  it('sees through IPv4-mapped IPv6 and refuses NAT64, 6to4 and Teredo wrappers', () => {
    expect(refused('::ffff:127.0.0.1')).toContain('loopback');
    expect(refused('::ffff:10.0.0.1')).toContain('private');
    expect(refused('::ffff:169.254.169.254')).toContain('metadata');
    expect(refused('::ffff:7f00:1')).toContain('loopback');
    expect(refused('64:ff9b::a00:1')).toBeDefined();
    expect(refused('2002:a00:1::')).toBeDefined();
    expect(refused('2001:0:a00:1::')).toBeDefined();
  });

  it('accepts global unicast addresses', () => {
    for (const a of ['8.8.8.8', '20.50.1.2', '172.32.0.1', '2606:4700:4700::1111', '::ffff:8.8.4.4']) {
      expect(classifyAddress(a)).toEqual({ public: true });
    }
  });

  it('says when something is not an address', () => {
    expect(refused('example.com')).toContain('not an IP address');
  });
});

describe('URL shape', () => {
  it('wants https without credentials in Azure', () => {
    expect(checkUrlShape('https://hooks.example.com/x', false).ok).toBe(true);
    expect(checkUrlShape('http://hooks.example.com/x', false)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('https'),
    });
    expect(checkUrlShape('ftp://hooks.example.com/x', false).ok).toBe(false);
    expect(checkUrlShape('https://user:pw@hooks.example.com/x', false)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('credentials'),
    });
    expect(checkUrlShape('not a url', false).ok).toBe(false);
  });

  it('refuses private address literals, IPv6 ones included', () => {
    expect(checkUrlShape('https://10.0.0.1/x', false)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('private'),
    });
    expect(checkUrlShape('https://[::1]:8443/x', false)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('loopback'),
    });
    expect(checkUrlShape('https://[::ffff:a9fe:a9fe]/latest', false)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('metadata'),
    });
    expect(checkUrlShape('https://169.254.169.254/latest', true).ok).toBe(false);
  });

  it('allows plain http to loopback in local mode only', () => {
    expect(checkUrlShape('http://127.0.0.1:9000/hook', true).ok).toBe(true);
    expect(checkUrlShape('http://localhost:9000/hook', true).ok).toBe(true);
    expect(checkUrlShape('http://127.0.0.1:9000/hook', false).ok).toBe(false);
    expect(checkUrlShape('http://192.168.1.5/hook', true).ok).toBe(false);
    expect(checkUrlShape('http://hooks.example.com/hook', true).ok).toBe(false);
  });
});

describe('names are checked on every address they resolve to', () => {
  const dns: Record<string, string[]> = {
    'public.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    'internal.example': ['10.0.0.5'],
    'mixed.example': ['93.184.216.34', '192.168.0.10'],
    'metadata.example': ['169.254.169.254'],
    'mapped.example': ['::ffff:127.0.0.1'],
  };
  beforeAll(() => {
    setResolverForTests((host) => {
      const addresses = dns[host];
      if (!addresses) return Promise.reject(Object.assign(new Error('not found'), { code: 'ENOTFOUND' }));
      return Promise.resolve(
        addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
      );
    });
  });
  afterAll(() => setResolverForTests(undefined));

  it('accepts a name whose addresses are all public', async () => {
    expect((await validateOutboundUrl('https://public.example/hook', false)).ok).toBe(true);
  });

  it.each([
    ['internal.example', 'private'],
    ['mixed.example', 'private'],
    ['metadata.example', 'metadata'],
    ['mapped.example', 'loopback'],
    ['nowhere.example', 'does not resolve'],
  ])('refuses %s (%s)', async (host, why) => {
    const check = await validateOutboundUrl(`https://${host}/hook`, false);
    expect(check.ok).toBe(false);
    if (!check.ok) expect(check.reason).toContain(why);
  });

  it('refuses at send time too, before any connection (DNS may have changed since registration)', async () => {
    await expect(postGuarded('https://internal.example/hook', '{}', {}, 1000, false)).rejects.toBeInstanceOf(
      OutboundRefused,
    );
    await expect(postGuarded('https://mixed.example/hook', '{}', {}, 1000, false)).rejects.toThrow(/private/);
  });
});

describe('sending', () => {
  let server: Server;
  let port: number;
  const seen: { path: string; headers: Record<string, unknown>; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/redirect') {
          res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
          res.end();
        } else if (req.url === '/slow') {
          setTimeout(() => res.end('late'), 2000);
        } else {
          res.end('ok');
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  afterEach(() => setResolverForTests(undefined));

  it('posts the body with its headers to a loopback receiver in local mode', async () => {
    const result = await postGuarded(
      `http://127.0.0.1:${port}/hook?x=1`,
      '{"a":1}',
      { 'webhook-id': 'evt_1' },
      2000,
      true,
    );
    expect(result.status).toBe(200);
    const last = seen.at(-1)!;
    expect(last).toMatchObject({ path: '/hook?x=1', body: '{"a":1}' });
    expect(last.headers['webhook-id']).toBe('evt_1');
    expect(last.headers['content-type']).toBe('application/json');
  });

  it('connects to the address it checked when given a name', async () => {
    setResolverForTests(() => Promise.resolve([{ address: '127.0.0.1', family: 4 }]));
    const result = await postGuarded(`http://localhost:${port}/named`, '{}', {}, 2000, true);
    expect(result.status).toBe(200);
    expect(seen.at(-1)!.path).toBe('/named');
  });

  it('does not follow redirects', async () => {
    const result = await postGuarded(`http://127.0.0.1:${port}/redirect`, '{}', {}, 2000, true);
    expect(result.status).toBe(302);
    expect(seen.some((s) => s.path === '/elsewhere')).toBe(false);
  });

  it('gives up after the timeout', async () => {
    const started = Date.now();
    await expect(postGuarded(`http://127.0.0.1:${port}/slow`, '{}', {}, 300, true)).rejects.toThrow(/300 ms/);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('never sends to loopback outside local mode', async () => {
    await expect(postGuarded(`https://127.0.0.1:${port}/hook`, '{}', {}, 1000, false)).rejects.toThrow(
      /loopback/,
    );
  });
});
