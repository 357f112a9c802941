import { buildMail, encodeWords, formatFrom } from '../../src/mail/mime';

/** Decodes RFC 2047 B-encoded UTF-8 words, joining adjacent words as RFC 2047 says (whitespace between them dropped). */
const decodeWords = (value: string) =>
  value.replace(/=\?UTF-8\?B\?([A-Za-z0-9+/=]+)\?=(\s+(?==\?))?/g, (_m, b64: string) => `\u0000${b64}\u0000`).replace(/(\u0000[^\u0000]*\u0000)+/g, (run) =>
    Buffer.concat(run.split('\u0000').filter(Boolean).map((b) => Buffer.from(b, 'base64'))).toString('utf8'),
  );

function parse(raw: string) {
  const [head, ...rest] = raw.split('\r\n\r\n');
  const unfolded = head!.replace(/\r\n[ \t]/g, ' ');
  const headers = new Map(unfolded.split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { headers, body: rest.join('\r\n\r\n') };
}

const base = { fromHeader: '"Mail Dispatch" <noreply@example.com>', to: ['a@example.com', 'b@example.org'], messageId: '<42@example.com>', msgId: '42', date: new Date('2026-11-21T08:00:00Z') };

describe('building a plain-text mail', () => {
  test('an ASCII mail has the headers a receiver needs, CRLF line ends and a 7bit body', () => {
    const raw = buildMail({ ...base, subject: 'Hello', text: 'line one\nline two' });
    const { headers, body } = parse(raw);
    expect(Object.fromEntries(headers)).toMatchObject({
      from: '"Mail Dispatch" <noreply@example.com>',
      to: 'a@example.com, b@example.org',
      subject: 'Hello',
      date: 'Sat, 21 Nov 2026 08:00:00 GMT',
      'message-id': '<42@example.com>',
      'x-msg-id': '42',
      'mime-version': '1.0',
      'content-type': 'text/plain; charset=utf-8',
      'content-transfer-encoding': '7bit',
    });
    expect(body).toBe('line one\r\nline two\r\n');
    expect(raw).not.toMatch(/[^\r]\n/);
  });

  test('a subject with non-ASCII characters round-trips through RFC 2047 encoded words of at most 75 characters', () => {
    const subject = '咿呀咿呀哟 — a subject long enough to need several encoded words, with émojis 🎉🎉🎉 and more 咿呀咿呀哟';
    const encoded = encodeWords(subject);
    for (const word of encoded.split('\r\n ')) expect(word.length).toBeLessThanOrEqual(75);
    expect(decodeWords(encoded.replace(/\r\n /g, ' '))).toBe(subject);
    const { headers } = parse(buildMail({ ...base, subject, text: 'x' }));
    expect(decodeWords(headers.get('subject')!)).toBe(subject);
  });

  test('a body with non-ASCII text or very long lines is base64 in lines of 76, and decodes to the same text', () => {
    for (const text of ['http://www.mark-to-win.com/tutorial/51081.html 咿呀咿呀哟\nsecond line', 'x'.repeat(5000)]) {
      const { headers, body } = parse(buildMail({ ...base, subject: 's', text }));
      expect(headers.get('content-transfer-encoding')).toBe('base64');
      expect(body.trimEnd().split('\r\n').every((l) => l.length <= 76)).toBe(true);
      expect(Buffer.from(body.replace(/\r\n/g, ''), 'base64').toString('utf8')).toBe(text);
    }
  });

  test('a lone dot line stays in the body: dot-stuffing is the SMTP connection\'s job, not the builder\'s', () => {
    const { body } = parse(buildMail({ ...base, subject: 's', text: 'a\n.\nb' }));
    expect(body).toBe('a\r\n.\r\nb\r\n');
  });

  test('MAIL_FROM becomes a quoted or encoded display name and the bare address for the envelope', () => {
    expect(formatFrom('Mail Dispatch <noreply@example.com>')).toEqual({ header: '"Mail Dispatch" <noreply@example.com>', address: 'noreply@example.com' });
    expect(formatFrom('noreply@example.com')).toEqual({ header: 'noreply@example.com', address: 'noreply@example.com' });
    expect(formatFrom('<noreply@example.com>')).toEqual({ header: '<noreply@example.com>', address: 'noreply@example.com' });
    expect(formatFrom('Say "hi" <a@example.com>').header).toBe('"Say \\"hi\\"" <a@example.com>');
    const encoded = formatFrom('百味皆苦 <a@example.com>');
    expect(decodeWords(encoded.header.replace(/ <a@example.com>$/, ''))).toBe('百味皆苦');
  });
});

describe('building a mail with an HTML alternative, Cc and Reply-To', () => {
  const html = '<p>Hello <b>there</b></p>';

  test('is multipart/alternative: the text part first, then the HTML, each decoding to what was given', () => {
    const raw = buildMail({ ...base, subject: 's', text: 'Hello there', html, cc: ['c@example.com'], replyTo: ['r@example.com'] });
    const { headers } = parse(raw);
    expect(headers.get('cc')).toBe('c@example.com');
    expect(headers.get('reply-to')).toBe('r@example.com');
    const boundary = /^multipart\/alternative; boundary="([^"]+)"$/.exec(headers.get('content-type')!)![1]!;
    const parts = raw.split(`--${boundary}`);
    expect(parts).toHaveLength(4);
    expect(parts[3]).toBe('--\r\n');
    expect(parts[1]).toBe('\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello there\r\n');
    expect(parts[2]).toBe(`\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${html}\r\n`);
  });

  test('a part that contains the boundary goes as base64, so it cannot end the part early', () => {
    const first = buildMail({ ...base, subject: 's', text: 'x', html });
    const boundary = /boundary="([^"]+)"/.exec(first)![1]!;
    const raw = buildMail({ ...base, subject: 's', text: `--${boundary}--\nforged`, html });
    expect(raw.split(`--${boundary}`)).toHaveLength(4);
    expect(raw).toMatch(/Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64/);
  });

  test('without html, cc or replyTo the mail is the plain one, with no Cc or Reply-To header', () => {
    const { headers } = parse(buildMail({ ...base, subject: 's', text: 'x' }));
    expect(headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(headers.has('cc')).toBe(false);
    expect(headers.has('reply-to')).toBe(false);
  });
});
