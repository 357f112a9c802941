// Everything that stands between the network and the mail service, bundled for createHttpApp:
//   authenticate  one middleware before every route (only GET/HEAD /health is open); per-key rate limit
//                 (authenticateRequest: the same check for the hot path outside Express)
//   jsonGuard     after express.json(): no __proto__/constructor/prototype keys, bounded nesting
//   accept        around MailService.send: Idempotency-Key, then the per-recipient limit (counted on accepted mails)
import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Config } from '../../config';
import type { MailRequest } from '../../core/validation';
import type { Logger } from '../../logger';
import type { Accepted } from '../../services/mail-service';
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
  /** Runs `send` for a validated mail under the Idempotency-Key and the per-recipient limit. */
  accept(req: RequestView, res: ServerResponse, mail: MailRequest, send: (idempotency?: IdempotencyClaim) => Promise<Accepted>): Promise<Accepted>;
  readonly limiter: RateLimiter;
  readonly keys: readonly ApiKeyEntry[];
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

  async function accept(req: RequestView, res: ServerResponse, mail: MailRequest, send: (idempotency?: IdempotencyClaim) => Promise<Accepted>): Promise<Accepted> {
    const replay = (msgId: string): Accepted => {
      res.setHeader('Idempotent-Replayed', 'true');
      return { msgId, status: 'sending' };
    };
    const header = req.header('idempotency-key');
    let claim: IdempotencyClaim | undefined;
    if (header !== undefined) {
      const key = parseIdempotencyKey(header);
      const begun = await opts.idempotency.begin(req.caller?.keyId ?? 'anonymous', key, fingerprintOf(req.body));
      if (begun.kind === 'replay') return replay(begun.msgId);
      claim = begun.claim;
    }
    try {
      const unreserve = limiter.reserveRecipients(mail.tos);
      try {
        return await send(claim);
      } catch (err) {
        unreserve();
        if (err instanceof IdempotentReplay) return replay(err.msgId);
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
