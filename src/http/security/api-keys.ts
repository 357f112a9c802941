// API keys: configured as SHA-256 hashes (API_KEYS=sha256:<hex>,sha256:<hex> — several for rotation), presented
// in a header only (Authorization: Bearer <key> or X-API-Key: <key>), compared in constant time. The query string
// never authenticates. One middleware, mounted before every route, lets only GET/HEAD /health through without a key.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { AppError } from '../../errors';
import type { Logger } from '../../logger';
import { sendProblem, instanceOf } from '../problem';
import type { Caller, RequestView } from '../request-view';

/** One configured key: the hash only. `id` (the first 16 hex digits of the hash) names it in logs and scopes. */
export interface ApiKeyEntry {
  id: string;
  hash: Buffer;
  /** given in plain text in API_KEYS (development only) */
  plain: boolean;
}

const HASHED = /^sha256:([0-9a-fA-F]{64})$/;
/** What a plain key may look like in API_KEYS: no commas or whitespace (the list separators), 16 to 256 characters. */
const PLAIN = /^[\x21-\x2b\x2d-\x7e]{16,256}$/;
/** Query parameters that look like someone tried to pass a key in the URL. */
const KEY_QUERY_PARAMS = /(?:^|[?&])(?:api[_-]?key|apikey|access[_-]?token|token|key|auth|authorization)=/i;

export function hashApiKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** `sha256:<hex>` for a key: what goes into API_KEYS. */
export function apiKeyConfigEntry(key: string): string {
  return `sha256:${hashApiKey(key).toString('hex')}`;
}

export function keyIdOf(hash: Buffer): string {
  return hash.toString('hex').slice(0, 16);
}

/**
 * Parses API_KEYS. Problems are reported by entry number, never with the entry's text (it may be a key).
 * Plain keys are parsed (hashed at once) and flagged; whether they are allowed is the caller's decision.
 */
export function parseApiKeys(raw: string): { keys: ApiKeyEntry[]; problems: string[] } {
  const keys: ApiKeyEntry[] = [];
  const problems: string[] = [];
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  entries.forEach((entry, i) => {
    const hashed = HASHED.exec(entry);
    if (hashed) {
      const hash = Buffer.from(hashed[1]!.toLowerCase(), 'hex');
      keys.push({ id: keyIdOf(hash), hash, plain: false });
    } else if (/^sha256:/i.test(entry)) {
      problems.push(`entry ${i + 1} starts with sha256: but is not followed by 64 hex digits`);
    } else if (PLAIN.test(entry)) {
      const hash = hashApiKey(entry);
      keys.push({ id: keyIdOf(hash), hash, plain: true });
    } else {
      problems.push(`entry ${i + 1} is neither sha256:<64 hex digits> nor a plain key of 16 to 256 visible characters`);
    }
  });
  const seen = new Set<string>();
  for (const k of keys) {
    const hex = k.hash.toString('hex');
    if (seen.has(hex)) problems.push(`the same key is listed twice (id ${k.id})`);
    seen.add(hex);
  }
  return { keys, problems };
}

/**
 * The key a request presents in its headers, if any. A browser on the dashboard sends it as the password of
 * HTTP Basic credentials (any user name): browsers attach those to every request, page loads and event streams too.
 */
export function presentedKey(req: Pick<RequestView, 'header'>): string | undefined {
  const authorization = req.header('authorization') ?? '';
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (bearer) return bearer[1];
  const basic = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization);
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const password = decoded.slice(decoded.indexOf(':') + 1);
    return password || undefined;
  }
  const header = req.header('x-api-key');
  return header !== undefined && header.trim() !== '' ? header.trim() : undefined;
}

/** The configured key matching `presented`, comparing hashes in constant time against every key (no early exit). */
export function matchKey(keys: readonly ApiKeyEntry[], presented: string): ApiKeyEntry | undefined {
  const hash = hashApiKey(presented);
  let found: ApiKeyEntry | undefined;
  for (const k of keys) {
    if (timingSafeEqual(k.hash, hash) && !found) found = k;
  }
  return found;
}

/** Requests without a key: exactly GET and HEAD /health (a liveness probe carries no secrets). */
export function isPublic(req: Pick<RequestView, 'method' | 'path'>): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && req.path === '/health';
}

export type { Caller } from '../request-view';

declare module 'express-serve-static-core' {
  interface Request {
    caller?: Caller;
  }
}

export interface AuthOptions {
  keys: readonly ApiKeyEntry[];
  logger: Logger;
  /** called for every authenticated request; throws AppError('RATE_LIMITED') when the caller is over its limit */
  limit?: (caller: Caller) => void;
}

/**
 * The one authentication check. With no keys configured (allowed only outside production) every caller is
 * `anonymous`; otherwise a request without a valid key in a header gets 401 with WWW-Authenticate: Bearer.
 * True when the request may go on (its caller set); false when the check has answered it.
 */
export function authenticate(opts: AuthOptions, req: RequestView, res: ServerResponse): boolean {
  if (isPublic(req)) return true;
  let caller: Caller;
  if (opts.keys.length === 0) {
    caller = { keyId: 'anonymous' };
  } else {
    const presented = presentedKey(req);
    const match = presented === undefined ? undefined : matchKey(opts.keys, presented);
    if (!match) {
      refuse(opts.logger, req, res, presented !== undefined);
      return false;
    }
    caller = { keyId: match.id };
  }
  req.caller = caller;
  try {
    opts.limit?.(caller);
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    sendProblem(res, err, instanceOf(req.originalUrl));
    return false;
  }
  return true;
}

function refuse(logger: Logger, req: RequestView, res: ServerResponse, presented: boolean): void {
  const inQuery = KEY_QUERY_PARAMS.test(req.originalUrl.slice(req.originalUrl.indexOf('?') + 1 || req.originalUrl.length));
  const reason = presented ? 'invalid' : inQuery ? 'key-in-query' : 'missing';
  logger.warn({ method: req.method, path: instanceOf(req.originalUrl), ip: req.ip, reason }, 'request refused: no valid API key');
  res.setHeader('WWW-Authenticate', [
    presented ? 'Bearer realm="mail-dispatch", error="invalid_token"' : 'Bearer realm="mail-dispatch"',
    // lets a browser ask for the key (as the password) when someone opens the dashboard
    'Basic realm="mail-dispatch: enter the API key as the password", charset="UTF-8"',
  ]);
  const detail =
    reason === 'invalid'
      ? 'the API key is not valid'
      : reason === 'key-in-query'
        ? 'API keys are accepted only in the Authorization (Bearer) or X-API-Key header, never in the query string; treat a key sent in a URL as leaked and rotate it'
        : 'send an API key as Authorization: Bearer <key> or X-API-Key: <key>';
  sendProblem(res, new AppError('UNAUTHORIZED', detail), instanceOf(req.originalUrl));
}

/** The check as Express middleware, mounted before every route. */
export function apiKeyAuth(opts: AuthOptions): RequestHandler {
  return (req, res, next) => {
    if (authenticate(opts, req, res)) next();
  };
}
