import { PENDING, Status } from '../../src/core/status';
import { padded, sized } from '../../src/store/msg-log-repo';
import { MS, SQL } from '../../src/store/sql';

/** Every statement in SQL, with the builders called for a few ids and both guards. */
const STATEMENTS: [string, string][] = Object.entries(SQL).flatMap(([name, value]): [string, string][] => {
  if (typeof value === 'string') return [[name, value]];
  if (name === 'claim') {
    const build = value as (takeOverExpired: boolean, n?: number, perRecipient?: boolean) => string;
    return [
      ['claim(takeOver)', build(true)],
      ['claim(free only)', build(false)],
      ['claim(per recipient)', build(true, 1, true)],
    ];
  }
  const build = value as (n: number) => string;
  return [
    [`${name}(1)`, build(1)],
    [`${name}(3)`, build(3)],
  ];
});

// Every change of msg_log names its rows; the one exception ends the claims of a listener thread that died, by owner.
const UPDATES = STATEMENTS.filter(([name, sql]) => /^\s*(UPDATE|DELETE)\b/i.test(sql) && /\bmsg_log\b/.test(sql) && name !== 'expireClaimsOf');

/** The text after the last WHERE: the guard of an UPDATE. */
const whereOf = (sql: string) => {
  const i = sql.toUpperCase().lastIndexOf('WHERE');
  if (i < 0) throw new Error(`no WHERE in ${sql}`);
  return sql.slice(i + 'WHERE'.length);
};

/** The codes in `status IN (...)` of a clause; null when there is none. */
const statusInList = (clause: string) => {
  const m = /status IN \(([^)]*)\)/.exec(clause);
  return m ? m[1]!.split(',').map((c) => Number(c.trim())) : null;
};

const placeholders = (sql: string) => (sql.match(/\?/g) ?? []).length;

describe('SQL', () => {
  test('the statement list covers the updates this product runs', () => {
    expect(UPDATES.map(([name]) => name)).toEqual(
      expect.arrayContaining(['markDelivered(1)', 'recordSend', 'recordPublishFailure', 'claim(takeOver)', 'claim(free only)', 'markConsumed(3)', 'markRepublishing(3)', 'markDeadByJob(3)', 'manualRetry', 'releaseClaims(3)', 'extendLeases(3)']),
    );
  });

  test.each(UPDATES)('the UPDATE or DELETE %s has a WHERE clause that names msg_id', (_name, sql) => {
    expect(sql).toMatch(/\bWHERE\b/);
    expect(whereOf(sql)).toMatch(/\bmsg_id\s*(=|IN)/);
  });

  test('no statement deletes from msg_log, msg_event or msg_recipient: a mail and its history are never lost', () => {
    for (const [, sql] of STATEMENTS) expect(sql).not.toMatch(/^\s*(DELETE|TRUNCATE)\b[\s\S]*\b(msg_log|msg_event|msg_recipient)\b/i);
  });

  test('recordSend, the listener\'s outcome, guards on its own lease_owner and on the try_count it saw', () => {
    const where = whereOf(SQL.recordSend);
    expect(where).toMatch(/\blease_owner = \?/);
    expect(where).toMatch(/\btry_count = \?/);
    expect(where).toMatch(/\bmsg_id = \?/);
    expect(statusInList(where)?.sort()).toEqual([...PENDING].sort());
    expect(placeholders(SQL.recordSend)).toBe(10);
  });

  test('a publish failure guards on try_count and status sending, and leaves alone a row a listener holds', () => {
    const where = whereOf(SQL.recordPublishFailure);
    expect(where).toMatch(/\btry_count = \?/);
    expect(where).toMatch(new RegExp(`\\bstatus = ${Status.sending}\\b`));
    expect(where).toMatch(/lease_until IS NULL OR lease_until <= UTC_TIMESTAMP\(3\)/);
    expect(placeholders(SQL.recordPublishFailure)).toBe(7);
  });

  test('releasing and renewing claims touch only the rows this owner holds, and count no try', () => {
    for (const sql of [SQL.releaseClaims(2), SQL.extendLeases(2)]) {
      expect(whereOf(sql)).toMatch(/\blease_owner = \?/);
      expect(sql).not.toMatch(/try_count|uncertain_count/);
    }
  });

  test('a recipient accepted (1), bounced (3) or suppressed (4) keeps its state whatever a later send reports, and state is assigned last', () => {
    const sql = SQL.upsertRecipients(2);
    const update = sql.slice(sql.indexOf('ON DUPLICATE KEY UPDATE'));
    expect(update).toMatch(/state = IF\(state IN \(1, 3, 4\), state, VALUES\(state\)\)\s*$/);
    expect(placeholders(sql)).toBe(8);
  });

  test('a mail whose recipients have their own outcomes is claimed only by the per-recipient claim', () => {
    expect(SQL.claim(true, 2)).toMatch(/rcpt_state = 0/);
    expect(SQL.claim(true, 1, true)).toMatch(/rcpt_state = 1/);
  });

  test('markConsumed matches exactly the PENDING codes, so it can never match consumed (3) or dead (5)', () => {
    const list = statusInList(whereOf(SQL.markConsumed(1)));
    expect(list?.sort()).toEqual([Status.sending, Status.delivered, Status.delivery_failed, Status.consume_failed].sort());
    expect(list).not.toContain(Status.consumed);
    expect(list).not.toContain(Status.dead);
  });

  test('markDelivered only matches rows still sending (status 0), so a late confirm undoes nothing', () => {
    const where = whereOf(SQL.markDelivered(2));
    const statusConditions = where.match(/status\s*(=|IN)\s*(\([^)]*\)|\d+)/g);
    expect(statusConditions).toEqual([`status = ${Status.sending}`]);
  });

  test('markDelivered matches only the try count the confirmed publish was made at, so a confirm recorded late cannot mark a later try', () => {
    expect(whereOf(SQL.markDelivered(2))).toMatch(/try_count = \?/);
  });

  test('markDelivered has one placeholder per id plus the deadline and the try count', () => {
    expect(placeholders(SQL.markDelivered(1))).toBe(3);
    expect(placeholders(SQL.markDelivered(5))).toBe(7);
    expect(whereOf(SQL.markDelivered(3))).toMatch(/msg_id IN \(\?,\?,\?\)/);
  });

  test('manualRetry only matches a dead row', () => {
    expect(whereOf(SQL.manualRetry)).toMatch(new RegExp(`status = ${Status.dead}\\b`));
    expect(statusInList(whereOf(SQL.manualRetry))).toBeNull();
  });

  test('claim only matches pending rows whose lease is free or ran out', () => {
    const where = whereOf(SQL.claim(true));
    expect(statusInList(where)?.sort()).toEqual([...PENDING].sort());
    expect(where).toMatch(/lease_until IS NULL OR lease_until <= UTC_TIMESTAMP\(3\)/);
  });

  test('under the "dead" uncertain policy a claim never takes over a lease that ran out', () => {
    const where = whereOf(SQL.claim(false));
    expect(where).toMatch(/AND lease_until IS NULL$/);
  });

  test('taking over a lease that ran out counts an uncertain send before the lease is replaced', () => {
    const set = SQL.claim(true).split('WHERE')[0]!;
    expect(set.indexOf('uncertain_count')).toBeLessThan(set.indexOf('lease_until = '));
  });

  test('the due-row query only picks pending rows and scheduled ones whose time came, and skips rows another instance has locked', () => {
    expect(statusInList(SQL.selectDueForUpdate)?.sort()).toEqual([...PENDING, Status.scheduled].sort());
    expect(SQL.selectDueForUpdate).toMatch(/FOR UPDATE SKIP LOCKED\s*$/);
  });

  test('the job builders have one placeholder per id plus their fixed arguments', () => {
    expect(placeholders(SQL.markRepublishing(4))).toBe(4 + 4);
    expect(placeholders(SQL.markDeadByJob(4))).toBe(3 + 4);
  });

  test('MS converts milliseconds to the microseconds INTERVAL ? MICROSECOND expects', () => {
    expect(MS).toBe(1000);
  });
});

describe('time in SQL', () => {
  test('every statement takes its time from the database clock in UTC, never from the session time zone', () => {
    const texts = Object.values(SQL).map((v) => (typeof v === 'function' ? (v as (n: never) => string)(1 as never) : v));
    for (const text of texts) expect(text).not.toMatch(/\bNOW\(|CURRENT_TIMESTAMP/);
    expect(texts.filter((t) => t.includes('UTC_TIMESTAMP(3)')).length).toBeGreaterThan(5);
  });
});

describe('the IN lists of prepared statements', () => {
  it('pads an id list to the next power of two by repeating its last id', () => {
    expect([1, 2, 3, 5, 16, 17, 500].map(sized)).toEqual([1, 2, 4, 8, 16, 32, 512]);
    expect(padded(['a', 'b', 'c'])).toEqual(['a', 'b', 'c', 'c']);
    expect(padded(['a'])).toEqual(['a']);
  });
});
