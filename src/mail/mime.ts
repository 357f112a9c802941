// A mail as RFC 5322 / MIME text, built directly: nodemailer's composer builds a tree of streams per mail, the
// largest CPU cost of a send; a mail needs a handful of headers and one encoded body (text/plain), or two
// (multipart/alternative: the text, then the HTML, which is sent as given and never rendered or fetched here).
import { createHash } from 'node:crypto';

export interface PlainMail {
  /** the From header, already formatted (see formatFrom) */
  fromHeader: string;
  to: readonly string[];
  cc?: readonly string[];
  replyTo?: readonly string[];
  subject: string;
  text: string;
  html?: string;
  messageId: string;
  msgId: string;
  date?: Date;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
const TEXT_7BIT = /^[\x20-\x7e\t\r\n]*$/;

/** RFC 2047 encoded words (UTF-8, base64), each at most 75 characters, never splitting a character. */
export function encodeWords(value: string): string {
  if (PRINTABLE_ASCII.test(value) && value.length <= 900) return value;
  const words: string[] = [];
  let chunk = '';
  for (const ch of value) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString('base64')}?=`).join('\r\n ');
}

/** "Name <address>" as a header value: the name quoted or encoded as needed, the address as configured. */
export function formatFrom(mailFrom: string): { header: string; address: string } {
  const m = /^\s*(.*?)\s*<([^<>\s]+@[^<>\s]+)>\s*$/.exec(mailFrom);
  if (!m) return { header: mailFrom.trim(), address: mailFrom.trim() };
  const [, name, address] = m as unknown as [string, string, string];
  if (!name) return { header: `<${address}>`, address };
  const bare = /^"(.*)"$/.exec(name)?.[1] ?? name; // MAIL_FROM may quote the name already
  const display = PRINTABLE_ASCII.test(bare) ? `"${bare.replace(/["\\]/g, '\\$&')}"` : encodeWords(bare);
  return { header: `${display} <${address}>`, address };
}

function body(text: string, boundary?: string): { encoding: '7bit' | 'base64'; content: string } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (TEXT_7BIT.test(text) && lines.every((l) => l.length <= 998) && !(boundary && text.includes(boundary))) return { encoding: '7bit', content: lines.join('\r\n') };
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  return { encoding: 'base64', content: b64.replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '') };
}

function part(type: 'plain' | 'html', text: string, boundary?: string): { headers: string[]; content: string } {
  const { encoding, content } = body(text, boundary);
  return { headers: [`Content-Type: text/${type}; charset=utf-8`, `Content-Transfer-Encoding: ${encoding}`], content };
}

export function buildMail(m: PlainMail): string {
  const headers = [
    `From: ${m.fromHeader}`,
    `To: ${m.to.join(', ')}`,
    ...(m.cc?.length ? [`Cc: ${m.cc.join(', ')}`] : []),
    ...(m.replyTo?.length ? [`Reply-To: ${m.replyTo.join(', ')}`] : []),
    `Subject: ${encodeWords(m.subject)}`,
    `Date: ${(m.date ?? new Date()).toUTCString()}`,
    `Message-ID: ${m.messageId}`,
    `X-Msg-Id: ${m.msgId}`,
    'MIME-Version: 1.0',
  ];
  if (m.html === undefined) {
    const text = part('plain', m.text);
    return `${[...headers, ...text.headers].join('\r\n')}\r\n\r\n${text.content}\r\n`;
  }
  // a part whose text holds the boundary goes as base64 (whose alphabet has no "-"), so no part can end early
  const boundary = `=_md_${createHash('sha256').update(m.msgId).digest('hex').slice(0, 24)}`;
  const parts = [part('plain', m.text, boundary), part('html', m.html, boundary)].map((p) => `--${boundary}\r\n${p.headers.join('\r\n')}\r\n\r\n${p.content}\r\n`);
  return `${[...headers, `Content-Type: multipart/alternative; boundary="${boundary}"`].join('\r\n')}\r\n\r\n${parts.join('')}--${boundary}--\r\n`;
}
