import { deadEvents, deliveredEvents, outcomeEvents, webhookEvent, type WebhookPayload } from '../../src/core/webhook-event';
import { Status } from '../../src/core/status';

const mail = { msgId: '42', tos: ['a@example.com'], cc: ['b@example.com'], bcc: ['c@example.com'], tags: ['order'], metadata: { orderId: '7' }, subject: 's', content: 'c' };
const payloadOf = (e: { payload: string }) => JSON.parse(e.payload) as WebhookPayload;

describe('webhook events', () => {
  test('a mail consumed at once gives one delivered event per recipient (to, cc and bcc), with its tags and metadata', () => {
    const events = deliveredEvents(mail, new Date('2026-12-01T10:00:00Z'));
    expect(events.map((e) => [e.type, e.recipient])).toEqual([
      ['delivered', 'a@example.com'],
      ['delivered', 'b@example.com'],
      ['delivered', 'c@example.com'],
    ]);
    expect(payloadOf(events[0]!)).toEqual({ type: 'delivered', msgId: '42', recipient: 'a@example.com', at: '2026-12-01T10:00:00.000Z', tags: ['order'], metadata: { orderId: '7' } });
  });

  test('a final outcome has the same event id whoever writes it, so writing it twice is one event; a deferral has one per try', () => {
    const a = webhookEvent({ type: 'bounced', mail, recipient: 'A@example.com', tryCount: 1, at: new Date(1) });
    const b = webhookEvent({ type: 'bounced', mail, recipient: 'a@example.com', tryCount: 2, at: new Date(2) });
    expect(a.eventId).toBe(b.eventId);
    const d1 = webhookEvent({ type: 'deferred', mail, recipient: 'a@example.com', tryCount: 1 });
    const d2 = webhookEvent({ type: 'deferred', mail, recipient: 'a@example.com', tryCount: 2 });
    expect(d1.eventId).not.toBe(d2.eventId);
    expect(d1.eventId).toMatch(/^42-deferred-[\w-]{12}$/);
  });

  test('the changed recipients of a send map to delivered, bounced, suppressed and deferred, and deferred becomes dead when the mail dies', () => {
    const changed = [
      { recipient: 'a@example.com', state: 'accepted' as const, failure: null },
      { recipient: 'b@example.com', state: 'bounced' as const, failure: { kind: 'smtp-permanent' as const, code: 550, enhanced: '5.1.1' } },
      { recipient: 'c@example.com', state: 'deferred' as const, failure: { kind: 'smtp-transient' as const, code: 450 } },
      { recipient: 'd@example.com', state: 'suppressed' as const, failure: { kind: 'suppressed' as const } },
    ];
    expect(outcomeEvents(mail, changed, Status.consume_failed, 1).map((e) => e.type)).toEqual(['delivered', 'bounced', 'deferred', 'suppressed']);
    const dying = outcomeEvents(mail, changed, Status.dead, 3);
    expect(dying.map((e) => e.type)).toEqual(['delivered', 'bounced', 'dead', 'suppressed']);
    expect(payloadOf(dying[2]!)).toMatchObject({ type: 'dead', tryCount: 3, failure: { kind: 'smtp-transient', code: 450 } });
  });

  test('a mail made dead outside a send tells about every recipient not final yet', () => {
    const events = deadEvents(mail, new Set(['b@example.com']), 8, { kind: 'tries-exhausted' });
    expect(events.map((e) => e.recipient)).toEqual(['a@example.com', 'c@example.com']);
    expect(payloadOf(events[0]!)).toMatchObject({ type: 'dead', tryCount: 8, failure: { kind: 'tries-exhausted' } });
  });
});
