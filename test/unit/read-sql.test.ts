import { Status } from '../../src/core/status';
import { DASHBOARD_SQL, STATS_SQL, whereOf } from '../../src/store/read-sql';

describe('read-sql (the dashboard and stats reads)', () => {
  test('a page of mails: the filter, then the keyset, then the limit, in the order of their placeholders', () => {
    const { sql, args } = DASHBOARD_SQL.listMails({ status: Status.dead, q: '38' }, '40', 26);
    expect(sql).toMatch(/FROM msg_log WHERE status = \? AND msg_id LIKE \? AND msg_id < \? ORDER BY msg_id DESC LIMIT \?$/);
    expect(args).toEqual([Status.dead, '38%', '40', 26]);
    expect(DASHBOARD_SQL.listMails({}, undefined, 10)).toMatchObject({ args: [10] });
    expect(DASHBOARD_SQL.listMails({}, undefined, 10).sql).not.toMatch(/WHERE/);
  });

  test('dead rows for a bulk retry: always dead, oldest first after the last one taken', () => {
    expect(DASHBOARD_SQL.countDead(undefined)).toEqual({ sql: `SELECT COUNT(*) AS n FROM msg_log WHERE status = ?`, args: [Status.dead] });
    const first = DASHBOARD_SQL.deadIds('a@b', null, 100);
    expect(first.sql).toMatch(/WHERE status = \? AND .* LIKE \? ORDER BY msg_id LIMIT \?$/);
    expect(first.args).toEqual([Status.dead, '%a@b%', 100]);
    const next = DASHBOARD_SQL.deadIds(undefined, '77', 100);
    expect(next.sql).toMatch(/WHERE status = \? AND msg_id > \? ORDER BY msg_id LIMIT \?$/);
    expect(next.args).toEqual([Status.dead, '77', 100]);
  });

  test('a recipient search is a LIKE with its wildcards escaped', () => {
    expect(whereOf({ q: '100%_x\\' }).args).toEqual(['%100\\%\\_x\\\\%']);
  });

  test('none of them writes', () => {
    const texts = [
      ...Object.values(STATS_SQL),
      DASHBOARD_SQL.findMail,
      DASHBOARD_SQL.mailEvents,
      DASHBOARD_SQL.listMails({ q: 'x' }, '1', 1).sql,
      DASHBOARD_SQL.countDead('1').sql,
      DASHBOARD_SQL.deadIds('x', '1', 1).sql,
    ];
    for (const sql of texts) expect(sql.trimStart()).toMatch(/^SELECT\b/);
  });
});
