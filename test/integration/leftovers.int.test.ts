// The check that runs last (test/leftovers.test.ts) must see each kind of thing a test can leave behind.
import { randomBytes } from 'node:crypto';
import { connect } from 'amqplib';
import { findLeftovers, removeLeftovers } from '../support/leftovers';
import { hasRabbitmqctl, rabbitmqctl } from '../support/rabbit';
import { AMQP_URL, SERVER_DB_URL } from '../support/services';
import { createPool, ensureDatabase } from '../../src/store/db';

describe('finding what a run left behind', () => {
  // a token of its own, so the run's own check at the end never sees these
  const token = `lt${randomBytes(3).toString('hex')}`;
  const name = `mdtest_${token}_x`; // as uniqueName makes them: the token between underscores

  afterAll(async () => removeLeftovers(await findLeftovers(token)));

  test('finds a database, a database user, a queue and an exchange whose names hold the token, and removes them all', async () => {
    await ensureDatabase(`${SERVER_DB_URL}/${name}`);
    const pool = createPool(`${SERVER_DB_URL}/mysql`, 1);
    await pool.query(`CREATE USER '${name}'@'%' IDENTIFIED BY 'x${token}'`).finally(() => pool.end());
    const conn = await connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(`${name}.queue`, { durable: false });
    await ch.assertExchange(`${name}.exchange`, 'direct', { durable: false });
    await conn.close();
    if (hasRabbitmqctl) await rabbitmqctl('set_policy', name, `^${name}\\.nothing$`, '{"max-length":1}', '--apply-to', 'queues');

    const found = (await findLeftovers(token)).map((l) => `${l.kind} ${l.name}`).sort();
    const brokerSide = hasRabbitmqctl ? [`exchange ${name}.exchange`, `policy ${name}`, `queue ${name}.queue`] : [];
    expect(found).toEqual([`database ${name}`, `database user ${name}`, ...brokerSide].sort());

    await removeLeftovers(await findLeftovers(token));
    expect(await findLeftovers(token)).toEqual([]);
  });
});
