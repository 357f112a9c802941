// What the API's checks read from a request. Express's Request has all of it, and so has the plain view that the
// POST /mail/send hot path builds (src/http/send-endpoint.ts), so one implementation of each check serves both.

/** Who made the request, for rate limits and idempotency scopes. */
export interface Caller {
  /** the key's id, or `anonymous` when the API runs without keys (development and tests only) */
  keyId: string;
}

export interface RequestView {
  readonly method: string;
  /** the path, without the query string */
  readonly path: string;
  readonly originalUrl: string;
  readonly ip?: string | undefined;
  header(name: string): string | undefined;
  /** set by the API-key check */
  caller?: Caller;
  /** the parsed JSON body */
  body?: unknown;
}
