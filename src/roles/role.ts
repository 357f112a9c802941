// What every role is to the app: started in order, stopped in reverse, asked whether it is ready.
export interface Role {
  start(): Promise<void>;
  /** attached to what it needs (the broker's queue, the listening socket) */
  readonly ready: boolean;
  /** takes no new work, finishes what is in hand, closes what it opened */
  stop(): Promise<void>;
  /** extra checks for /ready (SMTP, where the listener runs here) */
  readiness?(): Promise<Record<string, boolean>>;
}
