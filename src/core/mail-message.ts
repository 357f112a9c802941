// The mail as it travels: stored in msg_log.msg and published to RabbitMQ, with its msgId inside.
import { z } from 'zod';

/**
 * The documented test scenarios' faults (X-Dev-Fault, accepted only when the process started with DEV_FAULTS=true).
 * A mail's fault is stored in its message as data; nothing in the domain reads it: src/faults' wrappers, wired in only
 * under DEV_FAULTS, play it at the edges (the API's publish, the SMTP send).
 */
export const DEV_FAULTS = ['lose-publish', 'misroute', 'smtp-fail', 'smtp-reject', 'smtp-unknown', 'lose-check', 'lose-confirmation'] as const;
export type DevFault = (typeof DEV_FAULTS)[number];

/** The faults a scheme can play: lose-check and lose-confirmation drop messages only RELIABILITY_SCHEME=delayed-check sends. */
export function devFaultsOf(scheme: 'msg-log' | 'delayed-check' = 'msg-log'): readonly DevFault[] {
  return scheme === 'delayed-check' ? DEV_FAULTS : DEV_FAULTS.filter((f) => f !== 'lose-check' && f !== 'lose-confirmation');
}

const messageSchema = z.object({
  msgId: z.string().regex(/^\d{1,20}$/),
  subject: z.string(),
  content: z.string(),
  html: z.string().optional(),
  tos: z.array(z.string()).min(1),
  cc: z.array(z.string()).optional(),
  bcc: z.array(z.string()).optional(),
  replyTo: z.array(z.string()).optional(),
  tags: z.array(z.string()).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  devFault: z.enum(DEV_FAULTS).optional(),
});

export type MailMessage = z.infer<typeof messageSchema>;

export function encodeMailMessage(message: MailMessage): string {
  return JSON.stringify(message);
}

/** What a request stores of a mail: everything but when to send it. */
export type MailContent = Omit<MailMessage, 'msgId' | 'devFault'>;

/** The stored message of a validated request (its sendAt is the row's business, not the message's). */
export function messageOf(msgId: string, m: MailContent, devFault?: DevFault): string {
  const { subject, content, html, tos, cc, bcc, replyTo, tags, metadata } = m;
  return encodeMailMessage({ msgId, subject, content, html, tos, cc, bcc, replyTo, tags, metadata, devFault });
}

/** Every address the mail goes to, each once (To, Cc and Bcc): the envelope, and one outcome each. */
export function allRecipients(m: Pick<MailMessage, 'tos' | 'cc' | 'bcc'>): string[] {
  if (!m.cc && !m.bcc) return m.tos;
  const seen = new Map<string, string>();
  for (const a of [...m.tos, ...(m.cc ?? []), ...(m.bcc ?? [])]) if (!seen.has(a.toLowerCase())) seen.set(a.toLowerCase(), a);
  return [...seen.values()];
}

export class PoisonMessageError extends Error {
  override readonly name = 'PoisonMessageError';
}

/** Parses a message body, or throws PoisonMessageError saying why it cannot be a mail. */
export function decodeMailMessage(body: Buffer | string): MailMessage {
  let json: unknown;
  try {
    json = JSON.parse(body.toString());
  } catch {
    throw new PoisonMessageError('body is not JSON');
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) throw new PoisonMessageError(`not a mail message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
