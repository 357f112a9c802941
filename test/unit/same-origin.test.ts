// The same-origin rule (src/http/security/same-origin.ts) as a pure function: which requests that may change
// something are refused as sent from another site, and which pass.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { AppError } from '../../src/errors';
import { crossSiteRefusal, crossSiteRequest, originOf, ownOrigin, protocolOf, sameOriginGuard, type OriginFacts } from '../../src/http/security/same-origin';

const post = (host: string | undefined, origin: string | undefined, extra: Partial<OriginFacts> = {}): OriginFacts => ({
  method: 'POST',
  host,
  protocol: 'http',
  origin,
  secFetchSite: undefined,
  ...extra,
});
const passes = (f: OriginFacts) => crossSiteRefusal(f) === null;

describe('ownOrigin: the origin a request was sent to', () => {
  test.each<[string | undefined, 'http' | 'https', string | null]>([
    ['127.0.0.1:8080', 'http', 'http://127.0.0.1:8080'],
    ['mail.example.com', 'https', 'https://mail.example.com'],
    ['MAIL.Example.COM:8443', 'https', 'https://mail.example.com:8443'],
    ['mail.example.com:80', 'http', 'http://mail.example.com'],
    ['mail.example.com:443', 'https', 'https://mail.example.com'],
    ['mail.example.com:443', 'http', 'http://mail.example.com:443'],
    ['[::1]:8080', 'http', 'http://[::1]:8080'],
    ['[0:0:0:0:0:0:0:1]:8080', 'http', 'http://[::1]:8080'],
    ['[::1]', 'https', 'https://[::1]'],
    [undefined, 'http', null],
    ['', 'http', null],
    ['evil.example@mail.example.com', 'http', null],
    ['mail.example.com/path', 'http', null],
    ['mail.example.com:99999', 'http', null],
    ['::1:8080', 'http', null],
  ])('Host %p over %s is %p', (host, protocol, expected) => {
    expect(ownOrigin(host, protocol)).toBe(expected);
  });
});

describe('originOf: an Origin header read as an origin', () => {
  test.each<[string, string | null]>([
    ['https://evil.example', 'https://evil.example'],
    ['HTTPS://EVIL.Example', 'https://evil.example'],
    ['http://127.0.0.1:80', 'http://127.0.0.1'],
    ['https://127.0.0.1:443', 'https://127.0.0.1'],
    ['http://[::1]:8080', 'http://[::1]:8080'],
    ['null', null],
    ['', null],
    ['https://evil.example/', null],
    ['https://evil.example/path', null],
    ['https://user@evil.example', null],
    ['file://', null],
    ['chrome-extension://abcdefghijklmnop', null],
    ['https://a.example, https://b.example', null],
  ])('%p reads as %p', (header, expected) => {
    expect(originOf(header)).toBe(expected);
  });
});

describe('crossSiteRefusal', () => {
  test('a POST whose Origin is the request\'s own origin passes', () => {
    expect(passes(post('127.0.0.1:8080', 'http://127.0.0.1:8080'))).toBe(true);
  });

  test('a POST whose Origin is another host is refused with a 403 CROSS_SITE_REQUEST naming that origin', () => {
    const refusal = crossSiteRefusal(post('127.0.0.1:8080', 'https://evil.example'));
    expect(refusal).toBeInstanceOf(AppError);
    expect(refusal!.status).toBe(403);
    expect(refusal!.code).toBe('CROSS_SITE_REQUEST');
    expect(refusal!.detail).toContain('https://evil.example');
    expect(refusal!.detail).toContain('http://127.0.0.1:8080');
  });

  test('another port on the same host is another origin', () => {
    expect(passes(post('127.0.0.1:8080', 'http://127.0.0.1:8081'))).toBe(false);
    expect(passes(post('mail.example.com', 'http://mail.example.com:8080'))).toBe(false);
  });

  test('a page over https is the server’s own behind a proxy that ends TLS, but a plain http page is not own to a TLS server', () => {
    expect(passes(post('mail.example.com', 'https://mail.example.com'))).toBe(true);
    expect(passes(post('mail.example.com:8443', 'https://mail.example.com:8443'))).toBe(true);
    expect(passes(post('mail.example.com', 'https://mail.example.com:8443'))).toBe(false);
    expect(passes(post('mail.example.com', 'https://evil.example'))).toBe(false);
    expect(passes(post('mail.example.com', 'http://mail.example.com', { protocol: 'https' }))).toBe(false);
    expect(passes(post('mail.example.com', 'https://mail.example.com', { protocol: 'https' }))).toBe(true);
  });

  test('default ports are the same origin whether or not Host or Origin spells them out (http 80, https 443)', () => {
    expect(passes(post('mail.example.com:80', 'http://mail.example.com'))).toBe(true);
    expect(passes(post('mail.example.com', 'http://mail.example.com:80'))).toBe(true);
    expect(passes(post('mail.example.com:443', 'https://mail.example.com', { protocol: 'https' }))).toBe(true);
    expect(passes(post('mail.example.com', 'https://mail.example.com:443', { protocol: 'https' }))).toBe(true);
    // 443 is not http's default port, nor 80 https's
    expect(passes(post('mail.example.com:443', 'http://mail.example.com'))).toBe(false);
    expect(passes(post('mail.example.com:80', 'https://mail.example.com', { protocol: 'https' }))).toBe(false);
  });

  test('host names compare case-insensitively', () => {
    expect(passes(post('Mail.Example.COM:8080', 'http://mail.example.com:8080'))).toBe(true);
    expect(passes(post('mail.example.com:8080', 'HTTP://MAIL.EXAMPLE.COM:8080'))).toBe(true);
  });

  test('IPv6 hosts compare as addresses, brackets and port included', () => {
    expect(passes(post('[::1]:8080', 'http://[::1]:8080'))).toBe(true);
    expect(passes(post('[0:0:0:0:0:0:0:1]:8080', 'http://[::1]:8080'))).toBe(true);
    expect(passes(post('[::1]:8080', 'http://[::1]:8081'))).toBe(false);
    expect(passes(post('[::1]:8080', 'http://[::2]:8080'))).toBe(false);
    expect(passes(post('[::1]:8080', 'http://127.0.0.1:8080'))).toBe(false);
  });

  test('Origin: null is foreign (a sandboxed frame, a file, a redirect across origins)', () => {
    const refusal = crossSiteRefusal(post('127.0.0.1:8080', 'null'));
    expect(refusal?.code).toBe('CROSS_SITE_REQUEST');
    expect(refusal?.detail).toContain('null');
  });

  test('an Origin that is no origin (a path, user info, two values, empty) is refused', () => {
    for (const origin of ['http://127.0.0.1:8080/', 'http://x@127.0.0.1:8080', 'http://127.0.0.1:8080, http://127.0.0.1:8080', '']) {
      expect({ origin, passes: passes(post('127.0.0.1:8080', origin)) }).toEqual({ origin, passes: false });
    }
  });

  test('with an Origin but no usable Host, the request cannot be shown same-origin and is refused', () => {
    expect(passes(post(undefined, 'http://127.0.0.1:8080'))).toBe(false);
    expect(passes(post('evil.example@127.0.0.1:8080', 'http://127.0.0.1:8080'))).toBe(false);
  });

  test('a subdomain, or the parent domain, is another origin', () => {
    expect(passes(post('mail.example.com', 'http://evil.mail.example.com'))).toBe(false);
    expect(passes(post('mail.example.com', 'http://example.com'))).toBe(false);
  });

  test('without Origin, Sec-Fetch-Site cross-site or same-site is refused, in any case', () => {
    for (const site of ['cross-site', 'same-site', 'Cross-Site', ' same-site ']) {
      const refusal = crossSiteRefusal(post('127.0.0.1:8080', undefined, { secFetchSite: site }));
      expect({ site, code: refusal?.code, status: refusal?.status }).toEqual({ site, code: 'CROSS_SITE_REQUEST', status: 403 });
      expect(refusal!.detail).toContain(`Sec-Fetch-Site: ${site.trim().toLowerCase()}`);
    }
  });

  test('without Origin, Sec-Fetch-Site same-origin or none (the person typed the address) passes', () => {
    expect(passes(post('127.0.0.1:8080', undefined, { secFetchSite: 'same-origin' }))).toBe(true);
    expect(passes(post('127.0.0.1:8080', undefined, { secFetchSite: 'none' }))).toBe(true);
  });

  test('a request with neither Origin nor Sec-Fetch-Site (curl, a server) passes, even without a Host', () => {
    expect(passes(post('127.0.0.1:8080', undefined))).toBe(true);
    expect(passes(post(undefined, undefined))).toBe(true);
  });

  test('an Origin decides alone: a same-origin Origin passes whatever Sec-Fetch-Site says, a foreign one is refused', () => {
    expect(passes(post('127.0.0.1:8080', 'http://127.0.0.1:8080', { secFetchSite: 'same-origin' }))).toBe(true);
    expect(passes(post('127.0.0.1:8080', 'https://evil.example', { secFetchSite: 'same-origin' }))).toBe(false);
  });

  test('GET, HEAD and OPTIONS pass from any origin; every other method is checked, in any case', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'get']) expect(passes(post('127.0.0.1:8080', 'https://evil.example', { method }))).toBe(true);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'post', 'PROPFIND']) {
      expect({ method, passes: passes(post('127.0.0.1:8080', 'https://evil.example', { method })) }).toEqual({ method, passes: false });
    }
  });

  test('a long Origin is cut in the detail', () => {
    const origin = `https://${'a'.repeat(300)}.example`;
    expect(crossSiteRefusal(post('127.0.0.1:8080', origin))!.detail!.length).toBeLessThan(300);
  });
});

describe('the rule on a node:http request (what both pipelines call)', () => {
  const request = (headers: Record<string, string>, method = 'POST', encrypted = false): IncomingMessage =>
    ({ method, url: '/mail/1/retry?x=1', headers, socket: { encrypted, remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;

  test('the scheme is https on a TLS socket and http otherwise', () => {
    expect(protocolOf(request({}, 'POST', true))).toBe('https');
    expect(protocolOf(request({}))).toBe('http');
  });

  test('headers are read from the request, and a refusal is logged with the origin and the path without its query', () => {
    const warned: unknown[][] = [];
    const logger = { warn: (...args: unknown[]) => warned.push(args) } as never;
    expect(crossSiteRequest(request({ host: 'mail.example.com', origin: 'https://mail.example.com' }, 'POST', true), logger)).toBeNull();
    expect(warned).toEqual([]);
    const refusal = crossSiteRequest(request({ host: 'mail.example.com', origin: 'https://evil.example' }, 'POST', true), logger);
    expect(refusal?.code).toBe('CROSS_SITE_REQUEST');
    expect(crossSiteRequest(request({ host: 'mail.example.com', 'sec-fetch-site': 'cross-site' }))?.code).toBe('CROSS_SITE_REQUEST');
    expect(warned).toHaveLength(1);
    expect(warned[0]![0]).toMatchObject({ method: 'POST', path: '/mail/1/retry', origin: 'https://evil.example' });
  });

  test('the middleware passes a refusal to Express\'s error handler and lets anything else go on', () => {
    const guard = sameOriginGuard();
    const calls: unknown[][] = [];
    const next = (...args: unknown[]) => calls.push(args);
    guard(request({ host: '127.0.0.1:8080', origin: 'https://evil.example' }) as never, new EventEmitter() as never, next as never);
    guard(request({ host: '127.0.0.1:8080', origin: 'http://127.0.0.1:8080' }) as never, new EventEmitter() as never, next as never);
    expect(calls).toHaveLength(2);
    expect(calls[0]![0]).toBeInstanceOf(AppError);
    expect((calls[0]![0] as AppError).code).toBe('CROSS_SITE_REQUEST');
    expect(calls[1]).toEqual([]);
  });
});
