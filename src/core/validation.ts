// Validation of POST /mail/send bodies: strict shape, strict addresses, no header injection.
import { z } from 'zod';
import { allRecipients, encodeMailMessage, type MailMessage } from './mail-message';

export const LIMITS = {
  subjectMax: 255,
  contentMax: 100_000,
  addressMax: 254,
  storedMax: 65_535,
  scheduleDaysMax: 30,
  replyToMax: 5,
  tagsMax: 10,
  metadataKeysMax: 20,
  metadataValueMax: 256,
} as const;

/** A tag, or a metadata key: short, plain, safe in a URL, a log line or a header. */
const TAG = /^[A-Za-z0-9_.:-]{1,64}$/;
const METADATA_KEY = /^[A-Za-z0-9_.-]{1,40}$/;

/** RFC 3339 date-time with its offset, e.g. 2026-12-24T09:00:00+01:00 (fractional seconds allowed). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const DAY_MS = 86_400_000;

// dot-atom local part and a dotted domain of LDH labels: no quoted local parts, comments or display names.
const LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
// C0 controls and DEL; a subject or address with CR/LF could inject headers.
const CONTROL = /[\u0000-\u001f\u007f]/;

/** The mailbox if `raw` is one plain address, otherwise a reason it is not. */
export function parseAddress(raw: string): { ok: true; address: string } | { ok: false; reason: string } {
  if (CONTROL.test(raw)) return { ok: false, reason: 'control characters in address' };
  const address = raw.trim();
  if (address.length === 0) return { ok: false, reason: 'empty address' };
  if (address.length > LIMITS.addressMax) return { ok: false, reason: 'address longer than 254 characters' };
  const at = address.lastIndexOf('@');
  if (at <= 0 || address.indexOf('@') !== at) return { ok: false, reason: `"${address}" is not one plain address` };
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > 64 || !LOCAL.test(local)) return { ok: false, reason: `invalid local part in "${address}"` };
  const labels = domain.split('.');
  if (domain.length > 253 || labels.length < 2 || !labels.every((l) => LABEL.test(l)) || !/^[A-Za-z]{2,}$/.test(labels.at(-1)!)) {
    return { ok: false, reason: `invalid domain in "${address}"` };
  }
  return { ok: true, address: `${local}@${domain.toLowerCase()}` };
}

/** Bytes of a mail as msg_log.msg (TEXT) stores it: UTF-8 JSON, with the longest msgId there can be. */
export function storedBytes(m: Omit<MailMessage, 'msgId'>): number {
  return Buffer.byteLength(encodeMailMessage({ ...m, msgId: '0'.repeat(20) }));
}

function recipientsSchema(maxRecipients: number, field = 'tos') {
  return z
    .union([z.string(), z.array(z.string()).min(1, 'at least one recipient')], { error: `${field} must be an address, a comma-separated string or an array of addresses` })
    .transform((value, ctx) => {
      const parts = Array.isArray(value) ? value : value.split(',');
      const seen = new Map<string, string>();
      for (const part of parts) {
        const parsed = parseAddress(part);
        if (!parsed.ok) {
          ctx.addIssue({ code: 'custom', message: parsed.reason });
          return z.NEVER;
        }
        seen.set(parsed.address.toLowerCase(), parsed.address);
      }
      const tos = [...seen.values()];
      if (tos.length > maxRecipients) {
        ctx.addIssue({ code: 'custom', message: `at most ${maxRecipients} recipients per mail, got ${tos.length}` });
        return z.NEVER;
      }
      return tos;
    });
}

export function mailRequestSchema(maxRecipients: number) {
  return z.strictObject({
    subject: z
      .string({ error: 'subject must be a string' })
      // Checked before trimming: a CR/LF anywhere, even at the ends, is refused rather than quietly cut.
      .refine((s) => !CONTROL.test(s), 'subject must not contain CR, LF, NUL or other control characters')
      .trim()
      .min(1, 'subject must not be empty')
      .max(LIMITS.subjectMax, `subject is longer than ${LIMITS.subjectMax} characters`),
    content: z
      .string({ error: 'content must be a string' })
      .min(1, 'content must not be empty')
      .max(LIMITS.contentMax, `content is longer than ${LIMITS.contentMax} characters`)
      .refine((s) => !s.includes('\u0000'), 'content must not contain NUL'),
    // an HTML alternative to content (the text part stays): sent as is, never rendered, executed or fetched here
    html: z
      .string({ error: 'html must be a string' })
      .min(1, 'html must not be empty')
      .max(LIMITS.contentMax, `html is longer than ${LIMITS.contentMax} characters`)
      .refine((s) => !s.includes('\u0000'), 'html must not contain NUL')
      .optional(),
    tos: recipientsSchema(maxRecipients),
    cc: recipientsSchema(maxRecipients, 'cc').optional(),
    bcc: recipientsSchema(maxRecipients, 'bcc').optional(),
    replyTo: recipientsSchema(LIMITS.replyToMax, 'replyTo').optional(),
    // echoed back in the API: a caller's own labels
    tags: z
      .array(z.string().regex(TAG, 'a tag is 1 to 64 letters, digits or _ . : -'), { error: 'tags must be an array of strings' })
      .max(LIMITS.tagsMax, `at most ${LIMITS.tagsMax} tags`)
      .optional(),
    metadata: z
      .record(
        z.string().regex(METADATA_KEY, 'a metadata key is 1 to 40 letters, digits or _ . -'),
        z
          .string({ error: 'metadata values must be strings' })
          .max(LIMITS.metadataValueMax, `a metadata value is at most ${LIMITS.metadataValueMax} characters`)
          .refine((s) => !CONTROL.test(s), 'metadata values must not contain control characters'),
        { error: 'metadata must be an object of strings' },
      )
      .refine((m) => Object.keys(m).length <= LIMITS.metadataKeysMax, `at most ${LIMITS.metadataKeysMax} metadata keys`)
      .optional(),
    // when to send it: up to 30 days ahead; a time already passed sends it now
    sendAt: z
      .string({ error: 'sendAt must be an RFC 3339 date-time string' })
      .regex(RFC3339, 'sendAt must be an RFC 3339 date-time with its offset, e.g. 2026-12-24T09:00:00Z')
      .transform((s, ctx) => {
        const at = new Date(s);
        if (Number.isNaN(at.getTime())) ctx.addIssue({ code: 'custom', message: 'sendAt is not a valid date-time' });
        else if (at.getTime() > Date.now() + LIMITS.scheduleDaysMax * DAY_MS) ctx.addIssue({ code: 'custom', message: `sendAt is more than ${LIMITS.scheduleDaysMax} days ahead` });
        return at;
      })
      .optional(),
  }).superRefine((m, ctx) => {
    const recipients = allRecipients(m).length;
    if (recipients > maxRecipients) ctx.addIssue({ code: 'custom', path: ['tos'], message: `at most ${maxRecipients} recipients per mail (tos, cc and bcc together), got ${recipients}` });
    // msg_log.msg is TEXT: the mail as stored (UTF-8 JSON with its msgId) must fit in 65,535 bytes, or the insert fails.
    const { sendAt: _sendAt, ...stored } = m;
    const bytes = storedBytes(stored);
    if (bytes > LIMITS.storedMax) ctx.addIssue({ code: 'custom', path: ['content'], message: `the mail is too large: stored as UTF-8 JSON it takes ${bytes} bytes, at most ${LIMITS.storedMax}` });
  });
}

export type MailRequest = z.output<ReturnType<typeof mailRequestSchema>>;

// Building a zod schema costs far more than running it: one per recipient cap, built once.
const schemas = new Map<number, ReturnType<typeof mailRequestSchema>>();
function schemaFor(maxRecipients: number): ReturnType<typeof mailRequestSchema> {
  let schema = schemas.get(maxRecipients);
  if (!schema) schemas.set(maxRecipients, (schema = mailRequestSchema(maxRecipients)));
  return schema;
}

export interface FieldError {
  field: string;
  message: string;
}

export type Validated<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

export function validateMailRequest(body: unknown, maxRecipients: number): Validated<MailRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ field: '(body)', message: 'the body must be a JSON object' }] };
  }
  const result = schemaFor(maxRecipients).safeParse(body);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, errors: result.error.issues.map(toFieldError) };
}

function toFieldError(issue: z.core.$ZodIssue): FieldError {
  if (issue.code === 'unrecognized_keys') return { field: issue.keys.join(','), message: `unknown field(s): ${issue.keys.join(', ')}` };
  return { field: issue.path.length ? issue.path.join('.') : '(body)', message: issue.message };
}
