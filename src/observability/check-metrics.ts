// The delayed-check scheme's counters (RELIABILITY_SCHEME=delayed-check), fed by the callback service's and the
// resend worker's events; registered only where those run, next to the rest (src/observability/metrics.ts).
import type { EventEmitter } from 'node:events';
import { Counter, type Registry } from 'prom-client';
import type { CallbackEvents } from '../callback/callback-service';
import type { ResendEvents } from '../jobs/resend-worker';

export interface CheckParts {
  /** CallbackService */
  callback?: EventEmitter<CallbackEvents>;
  /** ResendWorker */
  resends?: EventEmitter<ResendEvents>;
}

export function observeChecks(registry: Registry, parts: CheckParts): void {
  const registers = [registry];
  if (parts.callback) {
    const confirmations = new Counter({ name: 'mail_confirmations_total', help: 'listener confirmations the callback service recorded (a mail found final)', registers });
    const checks = new Counter({ name: 'mail_checks_total', help: 'check messages come due, by verdict (confirmed: nothing to do; resend: the producer was asked)', labelNames: ['verdict'], registers });
    for (const verdict of ['confirmed', 'resend']) checks.inc({ verdict }, 0);
    parts.callback.on('confirmed', (n) => confirmations.inc(n));
    parts.callback.on('checked', (verdict) => checks.inc({ verdict }));
  }
  if (parts.resends) {
    const resends = new Counter({
      name: 'mail_resend_requests_total',
      help: 'resend requests the producer answered, by action (resend, dead, recheck: the queue was draining, leave: the relay is down, none: the mail had moved on)',
      labelNames: ['action'],
      registers,
    });
    for (const action of ['resend', 'dead', 'recheck', 'leave', 'none']) resends.inc({ action }, 0);
    parts.resends.on('handled', (action) => resends.inc({ action }));
  }
}
