// No cross-site actions. A browser that opened the dashboard holds the API key as Basic credentials and attaches
// them to every request to this server, whichever page makes it: any site the person visits could make the browser
// post a form here. So every request that may change something (any method but GET, HEAD and OPTIONS), on every
// route, must come from a page of this server's own origin, or from no browser at all:
//   - with an `Origin` header, it must name the request's own origin: the Host header, with the scheme the server
//     sees (https on a TLS socket, http otherwise), default ports left out, host names compared case-insensitively.
//     On a plain socket an https Origin naming the same Host is the server's own too: the usual deployment puts a
//     proxy that ends TLS in front (no proxy header is read: a cross-site page differs in its host, which a browser
//     sets and a page cannot). `Origin: null` (a sandboxed frame, a file, a redirect across origins) and anything
//     that is not an origin are foreign.
//   - without one, `Sec-Fetch-Site: cross-site` or `same-site` is foreign (another subdomain is another site).
//   - with neither (curl, server-to-server clients), the request passes: it carries no ambient browser credentials.
// One pure function (crossSiteRefusal) decides; Express mounts sameOriginGuard after the API-key check, and the
// POST /mail/send pipeline (src/http/send-endpoint.ts) calls crossSiteRequest at the same point.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { RequestHandler } from 'express';
import { AppError } from '../../errors';
import type { Logger } from '../../logger';
import { instanceOf } from '../problem';

/** Methods that never change anything here: they pass whatever their origin. */
export const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

export type Scheme = 'http' | 'https';

/** What the rule reads from a request. */
export interface OriginFacts {
  method: string;
  /** the Host header */
  host: string | undefined;
  /** the scheme the server sees the request arrive on */
  protocol: Scheme;
  /** the Origin header, if any */
  origin: string | undefined;
  /** the Sec-Fetch-Site header, if any */
  secFetchSite: string | undefined;
}

/** A Host header: a name, an IPv4 address or a bracketed IPv6 address, and an optional port; nothing else. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[^\s/?#@\\[\]:]+)(?::\d{0,5})?$/;
/** An origin as browsers serialise it: scheme://host[:port], no user, path, query or fragment. */
const ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#@\\]+$/;

/** `scheme://host[:port]` as the URL standard serialises an origin (lower case, default port left out), or null. */
function serialised(url: string): string | null {
  try {
    const origin = new URL(url).origin;
    return origin === 'null' ? null : origin;
  } catch {
    return null;
  }
}

/** The origin a request was sent to: the scheme the server sees and the Host header; null without a usable Host. */
export function ownOrigin(host: string | undefined, protocol: Scheme): string | null {
  const h = host?.trim();
  if (!h || !HOST.test(h)) return null;
  return serialised(`${protocol}://${h}`);
}

/** An Origin header's origin, normalised like ownOrigin's; null for `null`, an opaque origin or anything malformed. */
export function originOf(header: string): string | null {
  const v = header.trim();
  if (!ORIGIN.test(v)) return null;
  const scheme = v.slice(0, v.indexOf(':')).toLowerCase();
  return scheme === 'http' || scheme === 'https' ? serialised(v) : null;
}

/**
 * The refusal of a request that may change something and comes from a page of another origin, or null when it may
 * go on. The detail names the origin (or the Sec-Fetch-Site) seen, never anything else of the request.
 */
export function crossSiteRefusal(f: OriginFacts): AppError | null {
  const method = f.method.toUpperCase();
  if (SAFE_METHODS.has(method)) return null;
  const own = ownOrigin(f.host, f.protocol);
  const only = `only a page of ${own ?? "this server's own origin"} may change anything here`;
  if (f.origin !== undefined) {
    // A request that names its origin is judged by it alone.
    const seen = originOf(f.origin);
    const behindTls = f.protocol === 'http' ? ownOrigin(f.host, 'https') : null;
    if (seen !== null && own !== null && (seen === own || seen === behindTls)) return null;
    const shown = f.origin.trim().slice(0, 100);
    return new AppError('CROSS_SITE_REQUEST', `a ${method} from the origin ${shown === '' ? '(empty)' : shown} is refused: ${only}`);
  }
  const site = f.secFetchSite?.trim().toLowerCase();
  if (site === 'cross-site' || site === 'same-site') {
    return new AppError('CROSS_SITE_REQUEST', `a ${method} sent from another site (Sec-Fetch-Site: ${site}) is refused: ${only}`);
  }
  return null;
}

/** The scheme the server sees: https on a TLS socket, http otherwise. */
export function protocolOf(req: IncomingMessage): Scheme {
  return (req.socket as TLSSocket | null)?.encrypted === true ? 'https' : 'http';
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The rule applied to a request as node:http (or Express, which extends it) gives it; a refusal is logged. */
export function crossSiteRequest(req: IncomingMessage, logger?: Logger): AppError | null {
  const facts: OriginFacts = {
    method: req.method ?? 'GET',
    host: headerOf(req, 'host'),
    protocol: protocolOf(req),
    origin: headerOf(req, 'origin'),
    secFetchSite: headerOf(req, 'sec-fetch-site'),
  };
  const refusal = crossSiteRefusal(facts);
  if (refusal) {
    logger?.warn(
      { method: facts.method, path: instanceOf(req.url ?? ''), ip: req.socket?.remoteAddress, origin: facts.origin?.slice(0, 100), secFetchSite: facts.secFetchSite?.slice(0, 20) },
      'request refused: sent from another site',
    );
  }
  return refusal;
}

/** The rule as Express middleware, mounted before every route (src/http/app.ts). */
export function sameOriginGuard(logger?: Logger): RequestHandler {
  return (req, _res, next) => {
    const refusal = crossSiteRequest(req, logger);
    if (refusal) next(refusal);
    else next();
  };
}
