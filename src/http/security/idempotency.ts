// Idempotency-Key for POST /mail/send (draft-ietf-httpapi-idempotency-key-header):
//   same key + same body            → the original 202 with the same msgId; no second row, no second publish
//   same key + a different body     → 422 IDEMPOTENCY_KEY_REUSED
//   same key while the first is in flight → 409 IDEMPOTENCY_KEY_IN_USE
// Keys are scoped per API key, kept IDEMPOTENCY_TTL_HOURS, and stored as hashes together with a fingerprint of
// the body (sha256 of its canonical JSON).
import { createHash } from 'node:crypto';
import { AppError } from '../../errors';
import { TUNING } from '../../tuning';
import type { Logger } from '../../logger';
import type { NewMsgRow } from '../../services/mail-service';
import { keyHashOf, settle, type IdempotencyRepo, type KeyRef, type MailWrite } from '../../store/idempotency-repo';

export const IDEMPOTENCY_KEY_MAX = 255;
/** A Structured Field string ("..."), as the draft specifies, or a bare token as most clients send it. */
const QUOTED = /^"([\x20\x21\x23-\x5b\x5d-\x7e]+)"$/;
const BARE = /^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/;

/** The key in an Idempotency-Key header; throws INVALID_IDEMPOTENCY_KEY (400) naming what is wrong. */
export function parseIdempotencyKey(header: string): string {
  const raw = header.trim();
  const key = QUOTED.exec(raw)?.[1] ?? (BARE.test(raw) ? raw : undefined);
  if (key === undefined || key.length === 0) {
    throw new AppError('INVALID_IDEMPOTENCY_KEY', `Idempotency-Key must be one key of 1 to ${IDEMPOTENCY_KEY_MAX} visible ASCII characters, optionally in double quotes (no commas, spaces, quotes or backslashes inside a bare key)`);
  }
  if (key.length > IDEMPOTENCY_KEY_MAX) throw new AppError('INVALID_IDEMPOTENCY_KEY', `Idempotency-Key is longer than ${IDEMPOTENCY_KEY_MAX} characters`);
  return key;
}

/** JSON with object keys sorted at every level: the same body, however its keys were ordered, gives the same text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

export function fingerprintOf(body: unknown): string {
  return sha256Hex(canonicalJson(body));
}

export type Begun = { kind: 'replay'; msgId: string; result: string | null } | { kind: 'new'; claim: IdempotencyClaim };

export interface IdempotencyClaim {
  /** the msg_log insert (by default a mail to send; `write` writes others, or several), in one transaction with the
   * key row; `result`: the answer to replay, where the first row's msgId is not all of it (a batch) */
  insert(row: NewMsgRow, write?: MailWrite, result?: string): Promise<void>;
  /** ends this process's hold on the key; call once the request is answered */
  release(): void;
}

export class IdempotencyStore {
  /** Keys being processed in this process: a twin gets 409 at once, without touching the database. */
  private readonly inFlight = new Set<string>();
  private lastPurge = 0;

  constructor(
    private readonly deps: {
      repo: IdempotencyRepo;
      logger: Logger;
      /** how often at most a request triggers a purge of expired keys */
      purgeEveryMs?: number;
      now?: () => number;
    },
  ) {}

  get pending(): number {
    return this.inFlight.size;
  }

  /** Looks the key up for `scope`: a replay, a conflict (thrown), or a claim to insert with. */
  async begin(scope: string, key: string, fingerprint: string): Promise<Begun> {
    const ref: KeyRef = { scope, keyHash: keyHashOf(scope, key), fingerprint };
    const slot = ref.keyHash;
    if (this.inFlight.has(slot)) throw new AppError('IDEMPOTENCY_KEY_IN_USE', 'a request with this Idempotency-Key is still in flight; retry once it has finished');
    this.inFlight.add(slot);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.inFlight.delete(slot);
    };
    try {
      this.maybePurge();
      const existing = await this.deps.repo.find(ref.keyHash);
      if (existing && !existing.expired) {
        const verdict = settle(existing, fingerprint);
        if (verdict instanceof AppError) throw verdict;
        release();
        return { kind: 'replay', msgId: verdict.msgId, result: verdict.result };
      }
      return { kind: 'new', claim: { insert: (row, write, result) => this.deps.repo.insertWithMail(ref, row, write, result ?? null), release } };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Expired keys are deleted lazily: at most once per `purgeEveryMs`, in the background, bounded. */
  private maybePurge(): void {
    const now = (this.deps.now ?? Date.now)();
    if (now - this.lastPurge < (this.deps.purgeEveryMs ?? TUNING.idempotencyPurgeEveryMs)) return;
    this.lastPurge = now;
    this.deps.repo.purgeExpired().then(
      (n) => n > 0 && this.deps.logger.debug({ purged: n }, 'expired idempotency keys deleted'),
      (err: Error) => this.deps.logger.debug({ err: err.message }, 'could not purge expired idempotency keys'),
    );
  }
}
