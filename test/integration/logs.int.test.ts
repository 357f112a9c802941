// pino logs: every line about one mail carries its msgId, so one grep shows a mail's whole life.
import pino from 'pino';
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf } from '../support/services';
import { waitFor } from '../support/wait';

interface Line {
  level: number;
  msg: string;
  msgId?: string;
  [k: string]: unknown;
}

describe('log lines of a mail\'s life', () => {
  const lines: { raw: string; json: Line }[] = [];
  let f: Fixture;
  let db: Fixture['db'];
  let app: Fixture['app'];

  beforeAll(async () => {
    const logger = pino({ level: 'debug' }, { write: (raw: string) => void lines.push({ raw, json: JSON.parse(raw) as Line }) });
    f = await startFixture({ env: { DEV_FAULTS: 'true' }, overrides: { logger } });
    ({ db, app } = f);
  });

  afterAll(() => f?.stop());

  const send = async (fault?: string) => {
    const r = request(app.url).post('/mail/send').set('content-type', 'application/json');
    const res = await (fault ? r.set('x-dev-fault', fault) : r).send({ subject: 'logs', content: 'c', tos: 'l@example.com' });
    return (res.body as { msgId: string }).msgId;
  };
  const lifeOf = (id: string) => lines.filter((l) => l.raw.includes(id));

  test('a consumed mail: accepted, publish confirmed, consumed, every line with its msgId', async () => {
    const id = await send();
    await waitFor('consumed', async () => (await rowOf(db.pool, id))?.status === Status.consumed);
    // the confirm may be recorded (and logged) after the mail was consumed
    await waitFor('its accepted, confirmed and consumed lines', () => ['mail accepted', 'publish confirmed', 'mail consumed'].every((m) => lifeOf(id).some((l) => l.json.msg === m)));
    const life = lifeOf(id);
    expect(life.map((l) => l.json.msg)).toEqual(expect.arrayContaining(['mail accepted', 'publish confirmed', 'mail consumed']));
    expect(life.filter((l) => l.json.msgId !== id)).toEqual([]);
  });

  test('a mail that fails to dead: each failure, each re-publish and the end carry its msgId', async () => {
    const id = await send('smtp-fail');
    await waitFor('dead', async () => (await rowOf(db.pool, id))?.status === Status.dead, 30_000);
    await waitFor('its last line', () => lifeOf(id).some((l) => l.json.msg === 'mail dead'));
    const life = lifeOf(id);
    const msgs = life.map((l) => l.json.msg);
    expect(msgs.filter((m) => m === 'mail deferred; will retry')).toHaveLength(2);
    expect(msgs.filter((m) => m === 'mail due: publishing it again')).toHaveLength(2);
    expect(msgs).toContain('mail dead');
    expect(life.filter((l) => l.json.msgId !== id)).toEqual([]);
  });
});
