// Fault: the app and the database each in a time zone other than UTC, and not the same one: the app process with
// TZ=Asia/Kolkata (+05:30), the database a private MariaDB server started with --default-time-zone=-07:00 (or,
// where no private server can be made, the shared one, with only the app moved). Every time the product compares
// (publish grace, backoff, lease, due rows) must still work, and the API must show real UTC times.
import { Status } from '../../src/core/status';
import { PrivateMariaDb, privateMariaDbAvailable } from '../support/private-mariadb';
import { assertScenario, readRows, scenarioFixture, ScenarioRun, Traffic } from './harness';

// Scenarios take longer than the unit and integration tests' 60 s default (npm test runs them too).
jest.setTimeout(180_000);

const APP_TZ = 'Asia/Kolkata';
const DB_TZ = '-07:00';

describe('fault: the app and the database in other time zones than UTC', () => {
  const server = privateMariaDbAvailable ? new PrivateMariaDb({ timeZone: DB_TZ }) : null;
  const fx = scenarioFixture(server ? { dbServer: server } : {});
  beforeAll(() => fx.setup());
  afterAll(() => fx.stop());

  test('time-zones', async () => {
    const N = 150;
    const sc = new ScenarioRun('time-zones', `app TZ=${APP_TZ}, database time zone ${server ? DB_TZ : 'the shared server’s'}; ${N} mails, ⅓ with a lost publish, ⅓ with a 451 first`);
    const [tz] = await fx.db.pool.query<{ tz: string; skew: number }[]>('SELECT @@session.time_zone AS tz, TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW()) AS skew');
    if (server) sc.expect(`the database runs at ${DB_TZ}`, tz!.tz === DB_TZ && Number(tz!.skew) === -420, `${tz!.tz}, NOW() - UTC = ${tz!.skew} min`);
    fx.sink.decide = ({ subject, attempt }) => (Number(/fault mail (\d+)/.exec(subject ?? '')?.[1]) % 3 === 1 && attempt === 1 ? 'tempfail' : 'accept');
    const app = await fx.child({ env: { TZ: APP_TZ, DEV_FAULTS: 'true' } });
    const started = Date.now();
    const traffic = new Traffic(app.url, N, { concurrency: 10, headers: (i): Record<string, string> => (i % 3 === 0 ? { 'x-dev-fault': 'lose-publish' } : {}) });
    await traffic.done;
    sc.expect('every request answered 202', traffic.count(202) === N, JSON.stringify(traffic.statuses));

    // Lost publishes wait for the 3-s publish grace, 451s for a 200-ms backoff: hours of skew would leave them stuck.
    const result = await sc.settle({ accepted: traffic.accepted, sink: fx.sink.received, pool: fx.db.pool, boundMs: 20_000 });
    const rows = new Map((await readRows(fx.db.pool)).map((r) => [String(r.msg_id), r]));
    const lost = traffic.outcomes.filter((o) => o.i % 3 === 0 && o.msgId).map((o) => rows.get(o.msgId!));
    sc.expect('lost publishes re-published after the grace: consumed, try_count 1', lost.every((r) => r && Number(r.status) === Status.consumed && Number(r.try_count) === 1), lost.length);
    const failedOnce = traffic.outcomes.filter((o) => o.i % 3 === 1 && o.msgId).map((o) => rows.get(o.msgId!));
    sc.expect('451s retried after their backoff: consumed, try_count 1', failedOnce.every((r) => r && Number(r.status) === Status.consumed && Number(r.try_count) === 1), failedOnce.length);

    const sample = traffic.accepted[0]!;
    const view = (await (await fetch(`${app.url}/mail/${sample}`)).json()) as { createTime: string; updateTime: string };
    const createSkew = Date.parse(view.createTime) - started;
    sc.expect('GET /mail/:id shows the real time (createTime within 10 s of the request, in UTC)', Math.abs(createSkew) < 10_000 && view.createTime.endsWith('Z'), `${view.createTime}, ${Math.round(createSkew / 1000)} s from the request`);
    const [stored] = await fx.db.pool.query<{ skew: number }[]>('SELECT TIMESTAMPDIFF(SECOND, MIN(create_time), UTC_TIMESTAMP()) AS skew FROM msg_log');
    sc.expect('create_time is stored in UTC', Math.abs(Number(stored!.skew)) < 120, `${stored!.skew} s behind UTC_TIMESTAMP()`);
    assertScenario(sc.record(result));
  });
});
