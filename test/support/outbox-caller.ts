// A service that uses the outbox and dies by SIGKILL at a chosen step, for the outbox's kill tests:
//   node --import tsx test/support/outbox-caller.ts <before-commit|after-commit> <subject>
// with DATABASE_URL, MQ_EXCHANGE, MQ_ROUTING_KEY in the environment. Prints the msgId, then kills itself.
import * as mariadb from 'mariadb';
import { createOutbox } from '../../src/outbox';

async function main(): Promise<void> {
  const [stage, subject] = process.argv.slice(2);
  const outbox = await createOutbox();
  const conn = await mariadb.createConnection(process.env.DATABASE_URL!.replace(/^mysql:/, 'mariadb:'));
  await conn.beginTransaction();
  await conn.query('INSERT INTO outbox_business (note) VALUES (?)', [subject]);
  const msgId = await outbox.enqueueMail(conn, { subject: subject!, content: 'from a service that dies', tos: ['killed@example.com'] });
  process.stdout.write(`${msgId}\n`);
  if (stage === 'after-commit') await conn.commit();
  process.kill(process.pid, 'SIGKILL');
}

void main();
