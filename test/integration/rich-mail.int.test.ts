// Richer mails end to end (html, cc, bcc, replyTo, tags, metadata) against the real services and an SMTP sink that
// keeps what it received: the envelope holds every recipient once, Bcc never shows, the HTML travels as the
// alternative to the text, and the caller's labels come back in the API.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

describe('richer mails: html, cc, bcc, replyTo, tags and metadata', () => {
  let f: Fixture;
  const send = (body: object) => request(f.app.url).post('/mail/send').send(body);
  const base = { subject: 'Your order', content: 'Order 42 ships today.' };

  beforeAll(async () => {
    f = await startFixture({ env: { MAX_RECIPIENTS: '4' } });
  });

  afterAll(() => f?.stop());

  test('a mail with every field reaches each recipient once, with Cc and Reply-To but no Bcc header, and the HTML as the alternative part', async () => {
    const html = '<p>Order <b>42</b> ships today. <img src="https://tracker.example.com/pixel.gif"></p>';
    const res = await send({ ...base, html, tos: ['buyer@example.com'], cc: 'boss@example.com', bcc: ['audit@example.com'], replyTo: 'support@example.com', tags: ['order', 'shipping'], metadata: { orderId: '42', region: 'eu' } });
    expect(res.status).toBe(202);
    const msgId = res.body.msgId as string;
    await waitFor('consumed', async () => (await rowOf(f.db.pool, msgId))?.status === Status.consumed);
    const copies = f.sink.received.filter((m) => m.msgId === msgId);
    expect(copies).toHaveLength(1);
    expect(copies[0]!.to.sort()).toEqual(['audit@example.com', 'boss@example.com', 'buyer@example.com']);
    const raw = copies[0]!.raw;
    const head = raw.split('\r\n\r\n')[0]!;
    expect(head).toMatch(/^To: buyer@example\.com$/m);
    expect(head).toMatch(/^Cc: boss@example\.com$/m);
    expect(head).toMatch(/^Reply-To: support@example\.com$/m);
    expect(head).not.toMatch(/^Bcc:/im);
    expect(raw).not.toContain('audit@example.com');
    const boundary = /boundary="([^"]+)"/.exec(head)![1]!;
    expect(head).toMatch(/^Content-Type: multipart\/alternative;/m);
    const parts = raw.split(`--${boundary}`).slice(1, 3);
    expect(parts[0]).toMatch(/Content-Type: text\/plain; charset=utf-8[\s\S]*Order 42 ships today\./);
    expect(parts[1]).toMatch(/Content-Type: text\/html; charset=utf-8/);
    expect(parts[1]).toContain(html);
    const view = await request(f.app.url).get(`/mail/${msgId}`);
    expect(view.body).toMatchObject({ tos: ['buyer@example.com'], cc: ['boss@example.com'], bcc: ['audit@example.com'], replyTo: ['support@example.com'], tags: ['order', 'shipping'], metadata: { orderId: '42', region: 'eu' } });
    expect((view.body.recipients as { address: string; state: string }[]).map((r) => `${r.address}:${r.state}`).sort()).toEqual(['audit@example.com:accepted', 'boss@example.com:accepted', 'buyer@example.com:accepted']);
  });

  test('an address in two lists is sent to once, and To, Cc and Bcc count together against MAX_RECIPIENTS', async () => {
    const twice = await send({ ...base, tos: ['a@example.com'], cc: ['A@example.com', 'b@example.com'] });
    expect(twice.status).toBe(202);
    await waitFor('consumed', async () => (await rowOf(f.db.pool, twice.body.msgId as string))?.status === Status.consumed);
    expect(f.sink.received.find((m) => m.msgId === twice.body.msgId)!.to.sort()).toEqual(['a@example.com', 'b@example.com']);
    const tooMany = await send({ ...base, tos: ['a@example.com', 'b@example.com'], cc: ['c@example.com', 'd@example.com'], bcc: ['e@example.com'] });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors).toEqual([expect.objectContaining({ field: 'tos', message: expect.stringMatching(/at most 4 recipients.*got 5/) })]);
  });

  test('everything else stays refused: unknown fields, a From or headers of the caller\'s, bad tags, metadata that is not flat strings, header injection in cc', async () => {
    const bad: [object, string][] = [
      [{ from: 'ceo@example.com' }, 'from'],
      [{ headers: { 'X-Evil': '1' } }, 'headers'],
      [{ attachments: [] }, 'attachments'],
      [{ tags: ['has space'] }, 'tags.0'],
      [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, 'tags'],
      [{ metadata: { nested: { a: '1' } } }, 'metadata.nested'],
      [{ metadata: { n: 1 } }, 'metadata.n'],
      [{ cc: 'x@example.com\r\nBcc: y@example.com' }, 'cc'],
      [{ replyTo: ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com', 'f@example.com'] }, 'replyTo'],
      [{ html: '' }, 'html'],
    ];
    for (const [extra, field] of bad) {
      const res = await send({ ...base, tos: 'a@example.com', ...extra });
      expect({ field, status: res.status }).toEqual({ field, status: 400 });
      expect((res.body.errors as { field: string }[]).map((e) => e.field)).toContain(field);
    }
  });
});
