// Everything that stands between the network and the mail service, bundled for createHttpApp:
//   authenticate  one middleware before every route (only GET/HEAD /health is open); per-key rate limit
//                 (authenticateRequest: the same check for the hot path outside Express)
//   jsonGuard     after express.json(): no __proto__/constructor/prototype keys, bounded nesting
//   accept        around MailService.send: Idempotency-Key, then the per-recipient limit (counted on accepted mails)
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Config } from '../../config';
import type { Logger } from '../../logger';
import { IdempotentReplay } from '../../store/idempotency-repo';
import type { Caller, RequestView } from '../request-view';
import { apiKeyAuth, authenticate, parseApiKeys, type ApiKeyEntry } from './api-keys';
import { fingerprintOf, parseIdempotencyKey, type IdempotencyClaim, type IdempotencyStore } from './idempotency';
import { jsonGuard } from './json-guard';
import { RateLimiter, type RateLimits } from './rate-limit';

export interface HttpSecurity {
  authenticate: RequestHandler;
  /** the same check outside Express: true when the request may go on, false when it has been answered */
  authenticateRequest(req: RequestView, res: ServerResponse): boolean;
  jsonGuard: RequestHandler;
  /** Runs `send` for validated mails (to `recipients`) under the Idempotency-Key and the per-recipient limit. */
  accept<A>(req: RequestView, res: ServerResponse, recipients: readonly string[], send: (idempotency?: IdempotencyClaim) => Promise<A>, opts?: AcceptOptions<A>): Promise<A>;
  readonly limiter: RateLimiter;
  readonly keys: readonly ApiKeyEntry[];
}

export interface AcceptOptions<A> {
  /** the answer a replayed Idempotency-Key gets (default: the msgId, `sending`); `result`: a batch's stored answer */
  replayed?: (msgId: string, result: string | null) => A;
  /** keys of another route than /mail/send live in a scope of their own (a key used on both names two requests) */
  route?: string;
}

export interface SecurityOptions {
  keys: readonly ApiKeyEntry[];
  limits: RateLimits;
  idempotency: IdempotencyStore;
  logger: Logger;
}

export function createHttpSecurity(opts: SecurityOptions): HttpSecurity {
  const limiter = new RateLimiter(opts.limits);
  const auth = { keys: opts.keys, logger: opts.logger, limit: (caller: Caller) => limiter.request(caller.keyId) };

  async function accept<A>(req: RequestView, res: ServerResponse, recipients: readonly string[], send: (idempotency?: IdempotencyClaim) => Promise<A>, how: AcceptOptions<A> = {}): Promise<A> {
    const replay = (msgId: string, result: string | null): A => {
      res.setHeader('Idempotent-Replayed', 'true');
      return how.replayed ? how.replayed(msgId, result) : ({ msgId, status: 'sending' } as A);
    };
    const header = req.header('idempotency-key');
    let claim: IdempotencyClaim | undefined;
    if (header !== undefined) {
      const key = parseIdempotencyKey(header);
      const scope = `${req.caller?.keyId ?? 'anonymous'}${how.route ? `:${how.route}` : ''}`;
      const begun = await opts.idempotency.begin(scope, key, fingerprintOf(req.body));
      if (begun.kind === 'replay') return replay(begun.msgId, begun.result);
      claim = begun.claim;
    }
    try {
      const unreserve = limiter.reserveRecipients(recipients);
      try {
        return await send(claim);
      } catch (err) {
        unreserve();
        if (err instanceof IdempotentReplay) return replay(err.msgId, err.result);
        throw err;
      }
    } finally {
      claim?.release();
    }
  }

  return {
    authenticate: apiKeyAuth(auth),
    authenticateRequest: (req, res) => authenticate(auth, req, res),
    jsonGuard,
    accept,
    limiter,
    keys: opts.keys,
  };
}

/** The API keys of a configuration (already validated by loadConfig). */
export function apiKeysOf(config: Pick<Config, 'API_KEYS'>): ApiKeyEntry[] {
  return parseApiKeys(config.API_KEYS.join(',')).keys;
}

export { apiKeyConfigEntry, hashApiKey, parseApiKeys } from './api-keys';
export { IdempotencyStore } from './idempotency';
