import { encodeMailMessage } from '../../src/core/mail-message';
import { LIMITS, parseAddress, storedBytes, validateMailRequest } from '../../src/core/validation';

const MAX = 3;
const good = { subject: 'Hello', content: 'Body text', tos: 'alice@example.com' };

/** An address of `total` characters: a 64-character local part and a domain of labels of at most 62 characters. */
function addressOfLength(total: number): string {
  let left = total - 64 - 1 - '.com'.length;
  const labels: string[] = [];
  while (left > 63) {
    labels.push('d'.repeat(62));
    left -= 63;
  }
  labels.push('d'.repeat(left));
  const address = `${'l'.repeat(64)}@${labels.join('.')}.com`;
  if (address.length !== total) throw new Error(`test helper built ${address.length} characters, wanted ${total}`);
  return address;
}

describe('parseAddress', () => {
  test.each([
    ['alice@example.com', 'alice@example.com'],
    ['first.last+tag@sub.example.co.uk', 'first.last+tag@sub.example.co.uk'],
    ["o'brien@example.ie", "o'brien@example.ie"],
    ['a@b-c.io', 'a@b-c.io'],
    ['Alice@Example.COM', 'Alice@example.com'],
    ['  bob@example.org  ', 'bob@example.org'],
    ['x_y=z@xn--bcher-kva.example', 'x_y=z@xn--bcher-kva.example'],
  ])('accepts %p as %p (domain lower-cased, local part kept)', (raw, address) => {
    expect(parseAddress(raw)).toEqual({ ok: true, address });
  });

  test('accepts an address of exactly 254 characters', () => {
    const address = addressOfLength(254);
    expect(parseAddress(address)).toEqual({ ok: true, address });
  });

  test('rejects an address of 255 characters, saying it is too long', () => {
    const result = parseAddress(addressOfLength(255));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(/254/);
  });

  test('rejects a local part longer than 64 characters', () => {
    expect(parseAddress(`${'a'.repeat(65)}@example.com`).ok).toBe(false);
    expect(parseAddress(`${'a'.repeat(64)}@example.com`).ok).toBe(true);
  });

  test.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['quoted local part', '"john doe"@example.com'],
    ['quoted local part without spaces', '"john"@example.com'],
    ['display name', 'Name <a@b.com>'],
    ['angle brackets only', '<a@b.com>'],
    ['two @', 'a@b@c.com'],
    ['double @', 'a@@b.com'],
    ['no @', 'example.com'],
    ['nothing before @', '@example.com'],
    ['comma trick', 'a@b.com,c'],
    ['comma-joined addresses', 'a@b.com,c@d.com'],
    ['semicolon-joined addresses', 'a@b.com;c@d.com'],
    ['CR LF header injection', 'a@b.com\r\nBcc: evil@x.com'],
    ['LF inside', 'a\n@b.com'],
    ['NUL', 'a\u0000@b.com'],
    ['NUL at the end', 'a@b.com\u0000'],
    ['DEL', 'a\u007f@b.com'],
    ['leading dot in local part', '.a@b.com'],
    ['trailing dot in local part', 'a.@b.com'],
    ['two dots in local part', 'a..b@c.com'],
    ['leading dot in domain', 'a@.b.com'],
    ['trailing dot in domain', 'a@b.com.'],
    ['empty label in domain', 'a@b..com'],
    ['domain without TLD', 'a@localhost'],
    ['numeric TLD', 'a@example.123'],
    ['one-letter TLD', 'a@example.c'],
    ['IPv4 literal', 'a@[127.0.0.1]'],
    ['bare IPv4', 'a@127.0.0.1'],
    ['IPv6 literal', 'a@[IPv6:::1]'],
    ['label starting with a hyphen', 'a@-b.com'],
    ['label ending with a hyphen', 'a@b-.com'],
    ['label longer than 63 characters', `a@${'x'.repeat(64)}.com`],
    ['space in local part', 'a b@c.com'],
    ['comment', 'a(comment)@b.com'],
  ])('rejects %s: %p', (_name, raw) => {
    const result = parseAddress(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason.length).toBeGreaterThan(0);
  });
});

describe('validateMailRequest accepts', () => {
  test('a single address as a string', () => {
    expect(validateMailRequest(good, MAX)).toEqual({ ok: true, value: { subject: 'Hello', content: 'Body text', tos: ['alice@example.com'] } });
  });

  test('a comma-separated string, with spaces around the commas', () => {
    const result = validateMailRequest({ ...good, tos: 'a@example.com, b@example.org ,c@example.net' }, MAX);
    expect(result).toEqual({ ok: true, value: { ...good, tos: ['a@example.com', 'b@example.org', 'c@example.net'] } });
  });

  test('an array of addresses', () => {
    const result = validateMailRequest({ ...good, tos: ['a@example.com', 'b@example.org'] }, MAX);
    expect(result).toEqual({ ok: true, value: { ...good, tos: ['a@example.com', 'b@example.org'] } });
  });

  test('duplicate recipients only once, compared case-insensitively', () => {
    const result = validateMailRequest({ ...good, tos: ['Alice@Example.com', 'alice@example.COM', 'ALICE@EXAMPLE.COM', 'bob@example.com'] }, MAX);
    expect(result.ok).toBe(true);
    if (result.ok) {
      expect(result.value.tos).toHaveLength(2);
      expect(result.value.tos.map((t) => t.toLowerCase())).toEqual(['alice@example.com', 'bob@example.com']);
    }
  });

  test('exactly the maximum number of recipients', () => {
    const result = validateMailRequest({ ...good, tos: ['a@x.com', 'b@x.com', 'c@x.com'] }, MAX);
    expect(result.ok && result.value.tos.length).toBe(3);
  });

  test('more entries than the maximum when duplicates bring them under it', () => {
    const result = validateMailRequest({ ...good, tos: ['a@x.com', 'A@X.COM', 'b@x.com', 'c@x.com'] }, MAX);
    expect(result.ok && result.value.tos.length).toBe(3);
  });

  test('a subject with surrounding spaces, trimmed', () => {
    const result = validateMailRequest({ ...good, subject: '  Hi there  ' }, MAX);
    expect(result.ok && result.value.subject).toBe('Hi there');
  });

  test('a subject of exactly the maximum length', () => {
    const subject = 's'.repeat(LIMITS.subjectMax);
    const result = validateMailRequest({ ...good, subject }, MAX);
    expect(result.ok && result.value.subject).toBe(subject);
  });

  test('line breaks in the content, unchanged', () => {
    const content = 'line 1\r\nline 2\n\tindented ';
    const result = validateMailRequest({ ...good, content }, MAX);
    expect(result.ok && result.value.content).toBe(content);
  });
});

describe('validateMailRequest rejects', () => {
  const longAddress = `${'a'.repeat(64)}@${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.com`;

  test.each<[string, Record<string, unknown>, string]>([
    ['a missing subject', { content: 'c', tos: 'a@b.com' }, 'subject'],
    ['a numeric subject', { ...good, subject: 42 }, 'subject'],
    ['a null subject', { ...good, subject: null }, 'subject'],
    ['an empty subject', { ...good, subject: '' }, 'subject'],
    ['a blank subject', { ...good, subject: '   ' }, 'subject'],
    ['a subject with CR LF inside (header injection)', { ...good, subject: 'Hi\r\nBcc: evil@x.com' }, 'subject'],
    ['a subject with a bare LF inside', { ...good, subject: 'Hi\nthere' }, 'subject'],
    ['a subject with NUL', { ...good, subject: 'Hi\u0000there' }, 'subject'],
    ['a subject with a tab inside', { ...good, subject: 'Hi\tthere' }, 'subject'],
    ['a subject one character too long', { ...good, subject: 's'.repeat(LIMITS.subjectMax + 1) }, 'subject'],
    ['a missing content', { subject: 's', tos: 'a@b.com' }, 'content'],
    ['an empty content', { ...good, content: '' }, 'content'],
    ['a content that is an array', { ...good, content: ['x'] }, 'content'],
    ['a content with NUL', { ...good, content: 'a\u0000b' }, 'content'],
    ['a content one character too long', { ...good, content: 'c'.repeat(LIMITS.contentMax + 1) }, 'content'],
    ['missing tos', { subject: 's', content: 'c' }, 'tos'],
    ['an empty tos array', { ...good, tos: [] }, 'tos'],
    ['an empty tos string', { ...good, tos: '' }, 'tos'],
    ['a numeric tos', { ...good, tos: 42 }, 'tos'],
    ['a null tos', { ...good, tos: null }, 'tos'],
    ['an object as tos', { ...good, tos: { to: 'a@b.com' } }, 'tos'],
    ['a number inside the tos array', { ...good, tos: ['a@b.com', 5] }, 'tos'],
    ['a display name in tos', { ...good, tos: 'Alice <alice@example.com>' }, 'tos'],
    ['a quoted local part in tos', { ...good, tos: '"alice"@example.com' }, 'tos'],
    ['two @ in one address', { ...good, tos: 'a@b@example.com' }, 'tos'],
    ['a comma trick inside an array element', { ...good, tos: ['a@b.com,c'] }, 'tos'],
    ['two addresses joined by a comma inside one array element', { ...good, tos: ['ok@x.com', 'a@b.com,c@d.com'] }, 'tos'],
    ['a trailing comma in the tos string', { ...good, tos: 'a@b.com,' }, 'tos'],
    ['CR LF in an address (header injection)', { ...good, tos: 'a@b.com\r\nBcc: evil@x.com' }, 'tos'],
    ['NUL in an address', { ...good, tos: ['a\u0000@b.com'] }, 'tos'],
    ['a leading dot in the local part', { ...good, tos: '.a@b.com' }, 'tos'],
    ['a trailing dot in the domain', { ...good, tos: 'a@b.com.' }, 'tos'],
    ['a domain without TLD', { ...good, tos: 'root@localhost' }, 'tos'],
    ['an IP literal domain', { ...good, tos: 'a@[10.0.0.1]' }, 'tos'],
    ['an address longer than 254 characters', { ...good, tos: longAddress }, 'tos'],
    ['one recipient over the cap', { ...good, tos: ['a@x.com', 'b@x.com', 'c@x.com', 'd@x.com'] }, 'tos'],
    ['a comma string over the cap', { ...good, tos: 'a@x.com,b@x.com,c@x.com,d@x.com' }, 'tos'],
    ['an unknown field headers', { ...good, headers: { Bcc: 'spy@x.com' } }, 'headers'],
    ['an unknown field from', { ...good, from: 'ceo@x.com' }, 'from'],
    ['an unknown field constructor', { ...good, constructor: 'x' }, 'constructor'],
    ['a __proto__ key from JSON.parse', JSON.parse('{"__proto__":{"admin":true},"subject":"s","content":"c","tos":"a@b.com"}'), '__proto__'],
  ])('%s, naming the field', (_name, body, field) => {
    const result = validateMailRequest(body, MAX);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.length).toBeGreaterThan(0);
    expect(result.errors.map((e) => e.field)).toEqual(result.errors.map(() => field));
    for (const e of result.errors) expect(e.message.length).toBeGreaterThan(0);
  });

  test('the __proto__ case really is an own property, and nothing was polluted', () => {
    const body = JSON.parse('{"__proto__":{"polluted":true},"subject":"s","content":"c","tos":"a@b.com"}');
    expect(Object.prototype.hasOwnProperty.call(body, '__proto__')).toBe(true);
    validateMailRequest(body, MAX);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('several unknown fields are named together', () => {
    const result = validateMailRequest({ ...good, sender: 'x@y.com', attachments: [] }, MAX);
    expect(result).toEqual({ ok: false, errors: [{ field: 'sender,attachments', message: 'unknown field(s): sender, attachments' }] });
  });

  test('the recipient cap message says how many were given', () => {
    const result = validateMailRequest({ ...good, tos: ['a@x.com', 'b@x.com', 'c@x.com', 'd@x.com'] }, MAX);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.message).toBe('at most 3 recipients per mail, got 4');
  });

  test('the subject injection message mentions CR and LF', () => {
    const result = validateMailRequest({ ...good, subject: 'a\r\nb' }, MAX);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]!.message).toMatch(/CR, LF/);
  });

  test('several bad fields are each named', () => {
    const result = validateMailRequest({ subject: '', content: '', tos: 'nope' }, MAX);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.field).sort()).toEqual(['content', 'subject', 'tos']);
  });

  test.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['an array', [good]],
    ['an empty array', []],
    ['a string', JSON.stringify(good)],
    ['a number', 42],
    ['a boolean', true],
  ])('a body that is %s, naming the body', (_name, body) => {
    expect(validateMailRequest(body, MAX)).toEqual({ ok: false, errors: [{ field: '(body)', message: 'the body must be a JSON object' }] });
  });
});

describe('the stored size check', () => {
  const base = { subject: 'Hello', tos: ['alice@example.com'] };
  const contentFor = (bytes: number) => 'x'.repeat(bytes - storedBytes({ ...base, content: '' }));

  test('storedBytes is the size of the message as msg_log.msg stores it, with the longest msgId', () => {
    const m = { ...base, content: 'héllo 咿' };
    expect(storedBytes(m)).toBe(Buffer.byteLength(encodeMailMessage({ msgId: '12345678901234567890', ...m })));
  });

  test('a mail that takes exactly the column is accepted; one byte more is refused (no room is kept for anything else)', () => {
    expect(validateMailRequest({ ...base, content: contentFor(LIMITS.storedMax) }, MAX).ok).toBe(true);
    const over = validateMailRequest({ ...base, content: contentFor(LIMITS.storedMax + 1) }, MAX);
    expect(over.ok).toBe(false);
    expect(!over.ok && over.errors).toEqual([{ field: 'content', message: expect.stringMatching(/too large: .* takes 65536 bytes, at most 65535/) }]);
  });
});

describe('the optional fields of a richer mail', () => {
  const inDays = (d: number) => new Date(Date.now() + d * 86_400_000).toISOString();

  test('sendAt is an RFC 3339 date-time with its offset, at most 30 days ahead, parsed to the instant it names', () => {
    expect(validateMailRequest({ ...good, sendAt: '2030-01-01T10:00:00+02:00' }, MAX).ok).toBe(false); // more than 30 days ahead
    const soon = validateMailRequest({ ...good, sendAt: '2026-12-01T10:00:00.5+02:00'.replace('2026-12-01', new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)) }, MAX);
    expect(soon.ok && soon.value.sendAt?.getUTCHours()).toBe(8);
    expect(validateMailRequest({ ...good, sendAt: inDays(29.9) }, MAX).ok).toBe(true);
    for (const sendAt of [inDays(30.1), '2026-12-24T09:00:00', '2026-12-24 09:00:00Z', '2026-13-01T00:00:00Z', 1_800_000_000]) {
      const r = validateMailRequest({ ...good, sendAt }, MAX);
      expect(r.ok ? 'accepted' : r.errors.map((e) => e.field)).toEqual(['sendAt']);
    }
  });

  test('tos, cc and bcc count together against the cap, an address in two lists once', () => {
    expect(validateMailRequest({ ...good, tos: ['a@x.com'], cc: ['b@x.com'], bcc: ['c@x.com'] }, MAX).ok).toBe(true);
    expect(validateMailRequest({ ...good, tos: ['a@x.com'], cc: ['A@x.com', 'b@x.com'], bcc: ['c@x.com'] }, MAX).ok).toBe(true);
    const r = validateMailRequest({ ...good, tos: ['a@x.com', 'b@x.com'], cc: ['c@x.com'], bcc: ['d@x.com'] }, MAX);
    expect(r.ok ? null : r.errors).toEqual([{ field: 'tos', message: 'at most 3 recipients per mail (tos, cc and bcc together), got 4' }]);
  });

  test('tags and metadata are short, flat and plain; html counts in the stored size', () => {
    expect(validateMailRequest({ ...good, tags: ['order', 'eu:west'], metadata: { orderId: '42' } }, MAX).ok).toBe(true);
    expect(validateMailRequest({ ...good, metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) }, MAX).ok).toBe(false);
    expect(validateMailRequest({ ...good, metadata: { k: 'line\nbreak' } }, MAX).ok).toBe(false);
    expect(validateMailRequest({ ...good, content: 'x'.repeat(40_000), html: 'y'.repeat(40_000) }, MAX).ok).toBe(false);
  });
});
