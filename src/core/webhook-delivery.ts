// Delivering a webhook event, the pure part: what a receiver's answer means, what a failed try does to the event (the
// mail's retry policy: backoff, then failed after MAX_TRIES), and a failed try as data (webhook_event.last_error holds
// it as JSON; a sentence is made only where a person reads it). The HTTP exchange is src/jobs/webhook-job.ts.
import { backoffDelay } from './backoff';
import type { RetryPolicy } from './retry';

/** Why one try did not deliver the event. */
export type DeliveryFailure =
  /** the receiver answered, but not 2xx (a redirect too: none is followed) */
  | { kind: 'http-status'; status: number }
  /** no answer within WEBHOOK_TIMEOUT_MS */
  | { kind: 'timeout'; ms: number }
  /** no connection, or it broke: the error's code (ECONNREFUSED, ENOTFOUND, UND_ERR_SOCKET, ...), or its words without one ("bad port") */
  | { kind: 'unreachable'; code: string };

/** Any 2xx delivers the event; anything else is a failed try. */
export const isDelivered = (status: number): boolean => status >= 200 && status <= 299;

/** What a fetch that threw means: its timeout, or the code of the error under it. */
export function failureOfError(err: unknown, timeoutMs: number): DeliveryFailure {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; name?: string; message?: string } } | null;
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return { kind: 'timeout', ms: timeoutMs };
  // fetch wraps the socket's error ("fetch failed"); a URL fetch refuses to reach (a port it blocks) has words, no code
  const code = e?.cause?.code ?? e?.code ?? e?.cause?.message ?? e?.name ?? 'unknown';
  return { kind: 'unreachable', code: String(code).slice(0, 60) };
}

export const encodeDeliveryFailure = (f: DeliveryFailure): string => JSON.stringify(f);

/** Reads last_error back; anything that is not one of ours is null (nothing parses text). */
export function decodeDeliveryFailure(stored: string | null | undefined): DeliveryFailure | null {
  if (!stored) return null;
  try {
    const f = JSON.parse(stored) as Partial<Record<string, unknown>> | null;
    if (f?.kind === 'http-status' && typeof f.status === 'number') return { kind: 'http-status', status: f.status };
    if (f?.kind === 'timeout' && typeof f.ms === 'number') return { kind: 'timeout', ms: f.ms };
    if (f?.kind === 'unreachable' && typeof f.code === 'string') return { kind: 'unreachable', code: f.code };
  } catch {
    // not ours
  }
  return null;
}

/** For people: "the receiver answered 500", "no answer within 5000 ms", "could not reach the receiver (ECONNREFUSED)". */
export function deliveryFailurePhrase(f: DeliveryFailure): string {
  if (f.kind === 'http-status') return `the receiver answered ${f.status}`;
  if (f.kind === 'timeout') return `no answer within ${f.ms} ms`;
  return `could not reach the receiver (${f.code})`;
}

export interface FailedTry {
  /** the event's tries, this one included */
  tries: number;
  /** ms until the next try; null when its tries ran out (the event is failed and waits for a person) */
  delayMs: number | null;
}

/** One failed try, counted once: the try that reaches maxTries makes the event failed; below it, backoff. */
export function planFailedTry(triesBefore: number, policy: RetryPolicy, random?: () => number): FailedTry {
  const tries = triesBefore + 1;
  return { tries, delayMs: tries >= policy.maxTries ? null : backoffDelay(tries, policy.backoff, random) };
}

/** whsec_<base64> of at least this many bytes (Standard Webhooks: 24 to 64). */
export const WEBHOOK_SECRET_MIN_BYTES = 24;

/** Why a WEBHOOK_SECRET cannot be used, or null; never repeats the secret. */
export function webhookSecretProblem(text: string): string | null {
  const m = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!m) return 'must be written whsec_<base64> (as Standard Webhooks writes secrets)';
  const bytes = Buffer.from(m[1]!, 'base64');
  if (bytes.toString('base64').replace(/=+$/, '') !== m[1]!.replace(/=+$/, '')) return 'the part after whsec_ is not valid base64';
  if (bytes.length < WEBHOOK_SECRET_MIN_BYTES) return `must hold at least ${WEBHOOK_SECRET_MIN_BYTES} bytes of key (it holds ${bytes.length}); e.g. whsec_ and the base64 of 32 random bytes`;
  return null;
}
