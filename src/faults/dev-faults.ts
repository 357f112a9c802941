// DEV_FAULTS=true only: where the documented scenarios' faults are played. A mail's fault travels as data in its stored
// message (MailMessage.devFault); nothing in the domain reads it. The wrappers here read it and play it at the edges:
// FaultyDispatcher on the API's publishes (lose-publish, misroute), FaultyMailer on the SMTP sends (smtp-fail,
// smtp-reject). src/app.ts and src/roles/listener.ts wire them in only when config.DEV_FAULTS is true.
import { DEV_FAULTS, type DevFault } from '../core/mail-message';
import type { MsgLogRepo } from '../store/msg-log-repo';

/** The fault a stored message (msg_log.msg, the body published) carries, if any. */
export function faultOf(msg: string): DevFault | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(msg);
  } catch {
    return undefined;
  }
  const fault = (parsed as { devFault?: unknown } | null)?.devFault;
  return (DEV_FAULTS as readonly unknown[]).includes(fault) ? (fault as DevFault) : undefined;
}

/** The fault of a mail, read from its msg_log row (undefined when it has none, or no row). */
export function storedFaultOf(repo: Pick<MsgLogRepo, 'findRow'>): (msgId: string) => Promise<DevFault | undefined> {
  return async (msgId) => {
    const row = await repo.findRow(msgId);
    return row ? faultOf(row.msg) : undefined;
  };
}
