// The docker compose users are least-privilege, and enough: the app migrates, accepts, publishes and sends as a
// database user with exactly the grants of docker/mysql-init/10-least-privilege.sql and a broker user with exactly
// the permissions of docker/rabbitmq/20-least-privilege.conf; anything beyond that is refused.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as mariadb from 'mariadb';
import type { MailDispatchApp } from '../../src/app';
import { Status } from '../../src/core/status';
import { parseDatabaseUrl } from '../../src/store/db';
import { SmtpSink } from '../support/smtp-sink';
import { AMQP_URL, SERVER_DB_URL, deleteTopology, rowOf, startApp, testConfig, uniqueName, type TestDb } from '../support/services';
import { KEY_A, SECURED, rawRequest } from '../support/security';
import { waitFor } from '../support/wait';

const DOCKER = path.resolve(__dirname, '../../docker');
const grantsSql = readFileSync(path.join(DOCKER, 'mysql-init/10-least-privilege.sql'), 'utf8');
const rabbitConf = readFileSync(path.join(DOCKER, 'rabbitmq/20-least-privilege.conf'), 'utf8');
const permission = (kind: string) => new RegExp(`^default_permissions\\.${kind}\\s*=\\s*(\\S+)\\s*$`, 'm').exec(rabbitConf)![1]!;

function rabbitmqctl(...args: string[]): boolean {
  try {
    execFileSync('rabbitmqctl', args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

describe('least-privilege users from docker/', () => {
  const server = parseDatabaseUrl(`${SERVER_DB_URL}/x`);
  const dbName = uniqueName('mdtest_lp');
  const user = uniqueName('mdlp').slice(0, 30);
  const password = randomBytes(12).toString('hex');
  const dbUrl = `mysql://${user}:${password}@${server.host}:${server.port}/${dbName}`;
  // Names that match the broker user's permissions (mail.*), unique to this run.
  const n = uniqueName('lp');
  const topology = { exchange: `mail.${n}.exchange`, queue: `mail.${n}.queue`, routingKey: `mail.${n}.key` };
  let root: mariadb.Connection;
  let sink: SmtpSink;
  let app: MailDispatchApp | null = null;
  let brokerUser: string | null = null;

  beforeAll(async () => {
    sink = await new SmtpSink().start();
    root = await mariadb.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
    await root.query(`CREATE DATABASE \`${dbName}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    // As the MySQL and MariaDB images do for MYSQL_USER (on the name with its underscores escaped), then the file from
    // docker/ narrows it down: its REVOKE must name that grant exactly, or it fails and the image's init stops.
    const pattern = dbName.replaceAll('_', '\\_');
    await root.query(`CREATE USER '${user}'@'%' IDENTIFIED BY '${password}'`);
    await root.query(`GRANT ALL ON \`${pattern}\`.* TO '${user}'@'%'`);
    const statements = grantsSql.replace(/^--.*$/gm, '').split(';').map((s) => s.trim()).filter(Boolean);
    for (const s of statements) await root.query(s.replaceAll('`mail\\_dispatch`', `\`${pattern}\``).replaceAll("'mail'@'%'", `'${user}'@'%'`));
    // The broker user, where rabbitmqctl can reach the broker (a local install); otherwise the guest user.
    const candidate = uniqueName('mdlp');
    if (rabbitmqctl('add_user', candidate, password) && rabbitmqctl('set_user_tags', candidate, 'management') && rabbitmqctl('set_permissions', '-p', '/', candidate, permission('configure'), permission('write'), permission('read'))) {
      brokerUser = candidate;
    }
  });

  afterAll(async () => {
    await app?.stop();
    await sink?.stop();
    await deleteTopology(topology);
    await root?.query(`DROP DATABASE IF EXISTS \`${dbName}\``).catch(() => undefined);
    await root?.query(`DROP USER IF EXISTS '${user}'@'%'`).catch(() => undefined);
    await root?.end();
    if (brokerUser) rabbitmqctl('delete_user', brokerUser);
  });

  test('the database user has exactly the grants the file gives, on one database', async () => {
    const rows = await root.query<Record<string, string>[]>(`SHOW GRANTS FOR '${user}'@'%'`);
    const grants = rows.map((r) => Object.values(r)[0]!).join('\n');
    expect(grants).toMatch(/GRANT USAGE ON \*\.\*/);
    const onDb = new RegExp(`^GRANT (.+) ON \`${dbName.replaceAll('_', '\\\\_')}\`\\.\\* TO`, 'm').exec(grants);
    expect(onDb?.[1]!.split(', ').sort()).toEqual(['ALTER', 'CREATE', 'DELETE', 'INDEX', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', 'UPDATE']);
    expect(grants.split('\n')).toHaveLength(2);
    expect(grants).not.toMatch(/DROP|GRANT OPTION|ALL PRIVILEGES|FILE|SUPER|PROCESS/);
  });

  test('the app migrates, accepts (with an Idempotency-Key), publishes and sends as these users', async () => {
    const amqp = brokerUser ? AMQP_URL.replace(/\/\/[^@]*@/, `//${brokerUser}:${password}@`) : AMQP_URL;
    const db = { url: dbUrl } as TestDb;
    app = await startApp({ ...testConfig(db, topology, sink.url, { ...SECURED, ROLES: 'api,listener,job' }), AMQP_URL: amqp });
    const res = await rawRequest(app.url, { path: '/mail/send', headers: { 'content-type': 'application/json', 'x-api-key': KEY_A, 'idempotency-key': 'lp-1' }, body: JSON.stringify({ subject: 's', content: 'c', tos: 'a@example.com' }) });
    expect(res.status).toBe(202);
    const pool = app.pool;
    await waitFor('consumed', async () => (await rowOf(pool, res.body.msgId))?.status === Status.consumed);
    expect(sink.countFor(res.body.msgId)).toBe(1);
  });

  test('anything beyond is refused: DROP, another database, the server’s user table', async () => {
    const conn = await mariadb.createConnection({ host: server.host, port: server.port, user, password, database: dbName });
    try {
      await expect(conn.query('DROP TABLE msg_log')).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
      await expect(conn.query('CREATE DATABASE mdtest_lp_other')).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });
      await expect(conn.query('SELECT user FROM mysql.user')).rejects.toMatchObject({ code: 'ER_TABLEACCESS_DENIED_ERROR' });
      await expect(conn.query(`GRANT SELECT ON \`${dbName}\`.* TO '${user}'@'%'`)).rejects.toBeDefined();
    } finally {
      await conn.end();
    }
  });

  test('the broker user cannot touch exchanges or queues outside mail.*', async () => {
    if (!brokerUser) {
      console.warn('rabbitmqctl cannot reach the broker here; the broker permissions were not checked');
      return;
    }
    const { connect } = await import('amqplib');
    const conn = await connect(AMQP_URL.replace(/\/\/[^@]*@/, `//${brokerUser}:${password}@`));
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      await expect(ch.assertQueue(`other.${n}`, { durable: false, autoDelete: true })).rejects.toThrow(/ACCESS_REFUSED/);
    } finally {
      await conn.close().catch(() => undefined);
    }
  });
});
