// What a test run left on the shared MariaDB and RabbitMQ: every name a test creates carries the run's token
// (uniqueName in ./services), so a name holding it still there after the run is a test that did not clean up.
import { connect } from 'amqplib';
import { hasRabbitmqctl, rabbitmqctl } from './rabbit';
import { AMQP_URL, SERVER_DB_URL } from './services';
import { createPool } from '../../src/store/db';

export interface Leftover {
  kind: 'database' | 'database user' | 'queue' | 'exchange' | 'broker user' | 'policy';
  name: string;
  host?: string;
}

/** Everything on the two servers whose name holds `_<token>_`; the broker part only where rabbitmqctl answers. */
export async function findLeftovers(token: string): Promise<Leftover[]> {
  const found: Leftover[] = [];
  const holds = (name: string) => name.includes(`_${token}_`);
  const pool = createPool(`${SERVER_DB_URL}/mysql`, 1);
  try {
    const like = `%${token}%`; // LIKE reads "_" as any character, so the exact test is `holds`
    for (const r of await pool.query<{ name: string }[]>('SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE ?', [like])) if (holds(r.name)) found.push({ kind: 'database', name: r.name });
    for (const r of await pool.query<{ name: string; host: string }[]>('SELECT user AS name, host AS host FROM mysql.user WHERE user LIKE ?', [like])) if (holds(r.name)) found.push({ kind: 'database user', name: r.name, host: r.host });
  } finally {
    await pool.end();
  }
  if (!hasRabbitmqctl) return found;
  const [queues, exchanges, users, policies] = await Promise.all([
    rabbitmqctl('list_queues', '--no-table-headers', 'name'),
    rabbitmqctl('list_exchanges', '--no-table-headers', 'name'),
    rabbitmqctl('list_users', '--no-table-headers'),
    rabbitmqctl('list_policies', '--no-table-headers'),
  ]);
  const holding = (out: string, kind: Leftover['kind'], at = 0) =>
    out.split('\n').map((l) => l.trim().split(/\s+/)[at] ?? '').filter(holds).forEach((name) => found.push({ kind, name }));
  holding(queues, 'queue');
  holding(exchanges, 'exchange');
  holding(users, 'broker user');
  holding(policies, 'policy', 1); // list_policies: vhost, name, …
  return found;
}

/** Removes what findLeftovers found, so the next run starts from clean services. */
export async function removeLeftovers(items: Leftover[]): Promise<void> {
  const pool = createPool(`${SERVER_DB_URL}/mysql`, 1);
  try {
    for (const i of items.filter((x) => x.kind === 'database')) await pool.query(`DROP DATABASE IF EXISTS \`${i.name}\``);
    for (const i of items.filter((x) => x.kind === 'database user')) await pool.query('DROP USER IF EXISTS ?@?', [i.name, i.host]);
  } finally {
    await pool.end();
  }
  const broker = items.filter((x) => x.kind === 'queue' || x.kind === 'exchange');
  if (broker.length) {
    const conn = await connect(AMQP_URL);
    try {
      for (const i of broker) {
        const ch = await conn.createChannel(); // a failed delete closes its channel
        ch.on('error', () => undefined);
        await (i.kind === 'queue' ? ch.deleteQueue(i.name) : ch.deleteExchange(i.name)).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    } finally {
      await conn.close().catch(() => undefined);
    }
  }
  for (const i of items.filter((x) => x.kind === 'broker user')) await rabbitmqctl('delete_user', i.name).catch(() => undefined);
  for (const i of items.filter((x) => x.kind === 'policy')) await rabbitmqctl('clear_policy', i.name).catch(() => undefined);
}
