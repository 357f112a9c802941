// One catalogue of errors with stable codes, mapped in one place to RFC 9457 problem+json.
import type { FieldError } from './core/validation';

export const ERRORS = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not a valid mail' },
  MALFORMED_JSON: { status: 400, title: 'The body is not valid JSON' },
  JSON_TOO_DEEP: { status: 400, title: 'The JSON body nests too deeply' },
  JSON_FORBIDDEN_KEY: { status: 400, title: 'The JSON body uses a forbidden key (__proto__, constructor or prototype)' },
  BAD_REQUEST: { status: 400, title: 'The request is malformed' },
  INVALID_IDEMPOTENCY_KEY: { status: 400, title: 'The Idempotency-Key header is not valid' },
  UNAUTHORIZED: { status: 401, title: 'A valid API key is required' },
  CROSS_SITE_REQUEST: { status: 403, title: 'A page of another origin may not change anything here' },
  MAIL_NOT_FOUND: { status: 404, title: 'No mail with this msgId' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  WEBHOOK_EVENT_NOT_FOUND: { status: 404, title: 'No webhook event with this id' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  MAIL_NOT_DEAD: { status: 409, title: 'Only a dead mail can be retried' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  MAIL_CANCELLED: { status: 409, title: 'The prepared mail was cancelled; it cannot be committed' },
  MAIL_COMMITTED: { status: 409, title: 'The mail is already being sent; it can no longer be cancelled' },
  MAIL_NOT_PREPARED: { status: 409, title: 'The mail is no longer prepared' },
  WEBHOOK_EVENT_NOT_FAILED: { status: 409, title: 'Only a failed webhook event can be retried' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'The body must be application/json' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'This Idempotency-Key was already used with a different body' },
  RECIPIENTS_SUPPRESSED: { status: 422, title: 'Every recipient is on the suppression list' },
  NOT_SUPPRESSED: { status: 404, title: 'This address is not on the suppression list' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  DEV_FAULTS_DISABLED: { status: 400, title: 'Fault injection is off in this process' },
  DATABASE_UNAVAILABLE: { status: 503, title: 'The database is unavailable' },
  INTERNAL: { status: 500, title: 'Internal error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; retryAfterSeconds?: number; msgId?: string } = {},
  ) {
    super(detail ?? ERRORS[code].title);
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: ErrorCode;
  errors?: FieldError[];
  /** a mail whose storing is uncertain: the client can look it up instead of sending it again */
  msgId?: string;
}

export function problemOf(err: AppError, instance?: string): Problem {
  const { status, title } = ERRORS[err.code];
  return {
    type: `/problems/${err.code.toLowerCase().replaceAll('_', '-')}`,
    title,
    status,
    ...(err.detail ? { detail: err.detail } : {}),
    ...(instance ? { instance } : {}),
    code: err.code,
    ...(err.extra.errors ? { errors: err.extra.errors } : {}),
    ...(err.extra.msgId ? { msgId: err.extra.msgId } : {}),
  };
}

const DB_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ER_GET_CONNECTION_TIMEOUT', 'ER_CONNECTION_TIMEOUT', 'ER_SOCKET_UNEXPECTED_CLOSE', 'ER_CLOSING_POOL', 'ER_POOL_ALREADY_CLOSED', 'ER_CONNECTION_ALREADY_CLOSED', 'ER_CON_COUNT_ERROR', 'ER_LOCK_WAIT_TIMEOUT']);

/** True when a database error means "the database is not there right now", not a bug. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean; errno?: number } | null;
  if (!e || typeof e !== 'object') return false;
  return (e.code !== undefined && DB_DOWN_CODES.has(e.code)) || e.fatal === true;
}
