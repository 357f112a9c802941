// `npm run queue:migrate`: gives MQ_QUEUE and its parking queue the type MQ_QUEUE_TYPE names (quorum by default),
// moving their messages (src/broker/queue-migration.ts says how, and why nothing is lost or doubled). Reads the
// same configuration as the app (environment, .env).
import { existsSync } from 'node:fs';
import { migrateQueues } from '../src/broker/queue-migration';
import { loadConfig } from '../src/config';
import { maskUrl } from '../src/logger';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const c = loadConfig();
  const topology = { exchange: c.MQ_EXCHANGE, queue: c.MQ_QUEUE, routingKey: c.MQ_ROUTING_KEY, queueType: c.MQ_QUEUE_TYPE };
  console.log(`queue:migrate: ${c.MQ_QUEUE} and ${c.MQ_QUEUE}.parked to ${c.MQ_QUEUE_TYPE} on ${maskUrl(c.AMQP_URL)}`);
  const reports = await migrateQueues(c.AMQP_URL, topology, (line) => console.log(`queue:migrate: ${line}`));
  for (const r of reports) console.log(`queue:migrate: ${r.queue}: ${r.migrated ? `migrated, ${r.moved} messages moved` : `already ${c.MQ_QUEUE_TYPE}, nothing to do`}`);
}

main().catch((err) => {
  console.error(`queue:migrate failed: ${(err as Error).message}`);
  process.exit(1);
});
