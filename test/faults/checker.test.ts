// The checker is the judge of every fault scenario, so it gets its own tests.
import { Status } from '../../src/core/status';
import { check, formatLine, type CheckCopy, type CheckRow } from './checker';

const row = (msg_id: string, status: number, uncertain_count = 0, try_count = 0): CheckRow => ({ msg_id, status, try_count, uncertain_count });
const copy = (msgId: string | null, messageId: string | null = msgId ? `<${msgId}@example.com>` : null): CheckCopy => ({ msgId, messageId });

describe('the fault checker', () => {
  test('a clean run: every accepted mail consumed once', () => {
    const r = check({ accepted: ['1', '2', '3'], sink: [copy('1'), copy('2'), copy('3')], rows: [row('1', Status.consumed), row('2', Status.consumed), row('3', Status.consumed)] });
    expect(r).toMatchObject({ accepted: 3, rows: 3, consumed: 3, dead: 0, pending: 0, lost: 0, duplicated: 0, uncertain: 0, copies: 3, ok: true });
  });

  test('an accepted msgId without a row is lost', () => {
    const r = check({ accepted: ['1', '2'], sink: [copy('1')], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ missingRows: 1, lost: 1, ok: false });
    expect(r.examples.lost).toEqual(['2']);
  });

  test('a row still pending after the bound is lost, whatever its pending state', () => {
    for (const s of [Status.sending, Status.delivered, Status.delivery_failed, Status.consume_failed]) {
      const r = check({ accepted: ['1'], sink: [], rows: [row('1', s)] });
      expect(r).toMatchObject({ pending: 1, lost: 1, ok: false });
    }
  });

  test('a dead row is final, not lost; a dead row whose mail arrived is shown', () => {
    expect(check({ accepted: ['1'], sink: [], rows: [row('1', Status.dead)] })).toMatchObject({ dead: 1, lost: 0, deadWithMail: 0, ok: true });
    expect(check({ accepted: ['1'], sink: [copy('1')], rows: [row('1', Status.dead, 1)] })).toMatchObject({ dead: 1, deadWithMail: 1, ok: true });
  });

  test('two copies with uncertain_count 0 are a duplicate', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ duplicated: 1, uncertain: 0, ok: false });
    expect(r.examples.duplicated).toEqual(['1']);
  });

  test('two copies with uncertain_count 1 are uncertain, not duplicated', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed, 1)] });
    expect(r).toMatchObject({ duplicated: 0, uncertain: 1, uncertainSends: 1, ok: true });
  });

  test('more copies than 1 + uncertain_count are a duplicate even when some were uncertain', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('1'), copy('1')], rows: [row('1', Status.consumed, 1)] });
    expect(r).toMatchObject({ duplicated: 1, uncertain: 0, ok: false });
  });

  test('an uncertain send whose copy never arrived is counted in uncertainSends only', () => {
    const r = check({ accepted: ['1'], sink: [copy('1')], rows: [row('1', Status.consumed, 2)] });
    expect(r).toMatchObject({ uncertain: 0, uncertainSends: 2, ok: true });
  });

  test('a consumed row without its mail at the sink is a violation', () => {
    const r = check({ accepted: ['1'], sink: [], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ consumedWithoutMail: 1, ok: false });
  });

  test('a copy with no row, or no X-Msg-Id, is unexpected mail', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('9'), copy(null)], rows: [row('1', Status.consumed)] });
    expect(r).toMatchObject({ unexpectedMail: 2, copies: 1, ok: false });
  });

  test('copies whose Message-ID is not built from the msgId, or differs between copies, are flagged', () => {
    expect(check({ accepted: ['1'], sink: [copy('1', '<other@example.com>')], rows: [row('1', Status.consumed)] })).toMatchObject({ messageIdMismatch: 1, ok: false });
    expect(check({ accepted: ['1'], sink: [copy('1'), copy('1', '<1@elsewhere.org>')], rows: [row('1', Status.consumed, 1)] })).toMatchObject({ messageIdMismatch: 1, ok: false });
  });

  test('rows committed without a 202 (a request cut by a crash) are checked too', () => {
    const r = check({ accepted: ['1'], sink: [copy('1'), copy('2'), copy('2')], rows: [row('1', Status.consumed), row('2', Status.consumed)] });
    expect(r).toMatchObject({ accepted: 1, rows: 2, duplicated: 1, ok: false });
    const stuck = check({ accepted: [], sink: [], rows: [row('2', Status.delivered)] });
    expect(stuck).toMatchObject({ pending: 1, lost: 1 });
  });

  test('msgIds are compared as strings, whatever the driver returned', () => {
    const r = check({ accepted: ['12'], sink: [copy('12')], rows: [{ msg_id: 12 as unknown as string, status: Status.consumed, try_count: 0, uncertain_count: 0 }] });
    expect(r).toMatchObject({ consumed: 1, ok: true });
  });

  test('the line names every figure and the time', () => {
    const r = check({ accepted: ['1', '2'], sink: [copy('1'), copy('1')], rows: [row('1', Status.consumed, 1), row('2', Status.dead)] });
    expect(formatLine('broker-restart', r, 12_345)).toBe('broker-restart: sent=2 consumed=1 dead=1 lost=0 duplicated=0 uncertain=1 uncertain-sends=1 (12.3 s)');
  });
});
