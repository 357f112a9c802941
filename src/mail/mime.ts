// A plain-text mail as RFC 5322 / MIME text, built directly: nodemailer's composer builds a tree of streams per
// mail, the largest CPU cost of a send; a text/plain mail needs a handful of headers and one encoded body.

export interface PlainMail {
  /** the From header, already formatted (see formatFrom) */
  fromHeader: string;
  to: readonly string[];
  subject: string;
  text: string;
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

function body(text: string): { encoding: '7bit' | 'base64'; content: string } {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  if (TEXT_7BIT.test(text) && lines.every((l) => l.length <= 998)) return { encoding: '7bit', content: lines.join('\r\n') };
  const b64 = Buffer.from(text, 'utf8').toString('base64');
  return { encoding: 'base64', content: b64.replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '') };
}

export function buildPlainMail(m: PlainMail): string {
  const { encoding, content } = body(m.text);
  const headers = [
    `From: ${m.fromHeader}`,
    `To: ${m.to.join(', ')}`,
    `Subject: ${encodeWords(m.subject)}`,
    `Date: ${(m.date ?? new Date()).toUTCString()}`,
    `Message-ID: ${m.messageId}`,
    `X-Msg-Id: ${m.msgId}`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Transfer-Encoding: ${encoding}`,
  ];
  return `${headers.join('\r\n')}\r\n\r\n${content}\r\n`;
}
