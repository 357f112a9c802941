// A transactional outbox for Node services that share the product's database (MassTransit's and
// pg-transactional-outbox's idea): enqueueMail writes the msg_log row in the caller's own open transaction, so the
// mail commits with the caller's rows or not at all. Nothing is published here: the product's job role (its outbox
// publisher, src/jobs/due-publisher.ts) publishes the row within a second of the commit, and from there it is any mail.
//
//   const outbox = await createOutbox({ databaseUrl: process.env.DATABASE_URL });
//   await prisma.$transaction(async (tx) => {
//     const user = await tx.user.create({ data: { email } });
//     await outbox.enqueueMail(tx, { subject: 'Welcome', content: `Hello ${user.email}`, tos: [user.email] });
//   });
//   await outbox.close(); // at shutdown
//
// The transaction may be a Prisma interactive transaction (its `tx`) or a mariadb / mysql connection inside
// beginTransaction(). Msg ids never collide with the product's: the outbox leases an instance number like every instance.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { MsgIdGenerator } from '../core/ids';
import { messageOf } from '../core/mail-message';
import { validateMailRequest, type FieldError } from '../core/validation';
import { createPool, type Pool } from '../store/db';
import { InstanceLease, InstanceLeaseRepo } from '../store/instance-leases';
import { HELD_SQL, utcText } from '../store/held-sql';

/** The mail, as POST /mail/send takes it. */
export interface OutboxMail {
  subject: string;
  content: string;
  tos: string | string[];
  html?: string;
  cc?: string | string[];
  bcc?: string | string[];
  replyTo?: string | string[];
  tags?: string[];
  metadata?: Record<string, string>;
  /** RFC 3339: published at this time instead of at the commit (up to 30 days ahead) */
  sendAt?: string;
}

/** A Prisma interactive transaction (its `tx`). */
export interface PrismaTx {
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

/** A mariadb (or mysql2-style) connection with an open transaction. */
export interface SqlConnection {
  query(sql: string, values?: unknown[]): Promise<unknown>;
}

export interface OutboxOptions {
  /** the product's database (the instance number is leased there); DATABASE_URL by default */
  databaseUrl?: string;
  /** the product's MQ_EXCHANGE and MQ_ROUTING_KEY, when they are not the defaults */
  exchange?: string;
  routingKey?: string;
  /** the product's MAX_RECIPIENTS */
  maxRecipients?: number;
  /** a fixed instance number 0..1023 (SNOWFLAKE_WORKER_ID) instead of a leased one */
  workerId?: number;
}

export class OutboxValidationError extends Error {
  override readonly name = 'OutboxValidationError';
  constructor(readonly errors: FieldError[]) {
    super(`not a valid mail: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
  }
}

export interface Outbox {
  /** Writes the mail in `tx`; resolves with its msgId (GET /mail/:msgId follows it once the transaction commits). */
  enqueueMail(tx: PrismaTx | SqlConnection, mail: OutboxMail): Promise<string>;
  /** Gives the instance number back and closes the outbox's own connection. */
  close(): Promise<void>;
}

export async function createOutbox(options: OutboxOptions = {}): Promise<Outbox> {
  const exchange = options.exchange ?? process.env.MQ_EXCHANGE ?? 'mail.exchange';
  const routingKey = options.routingKey ?? process.env.MQ_ROUTING_KEY ?? 'mail.routing.key';
  const maxRecipients = options.maxRecipients ?? 50;
  let pool: Pool | null = null;
  let lease: InstanceLease | null = null;
  let ids: MsgIdGenerator;
  if (options.workerId !== undefined) {
    ids = new MsgIdGenerator(options.workerId);
  } else {
    const url = options.databaseUrl ?? process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/mail_dispatch';
    pool = createPool(url, 1);
    const owner = `outbox:${hostname().slice(0, 30)}:${process.pid}:${randomBytes(3).toString('hex')}`;
    try {
      lease = await new InstanceLease(new InstanceLeaseRepo(pool), { owner }).start();
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    ids = lease.ids();
  }

  return {
    async enqueueMail(tx, mail) {
      const result = validateMailRequest(mail, maxRecipients);
      if (!result.ok) throw new OutboxValidationError(result.errors);
      const msgId = ids.next();
      const { sendAt } = result.value;
      const args = [msgId, messageOf(msgId, result.value), exchange, routingKey];
      // a sendAt ahead makes it a scheduled mail; otherwise it is due at once, for the job role's due publisher
      const scheduled = sendAt !== undefined && sendAt.getTime() > Date.now();
      const sql = scheduled ? HELD_SQL.insertScheduled : HELD_SQL.insertOutbox;
      if (scheduled) args.push(utcText(sendAt));
      if (typeof (tx as PrismaTx).$executeRawUnsafe === 'function') await (tx as PrismaTx).$executeRawUnsafe(sql, ...args);
      else if (typeof (tx as SqlConnection).query === 'function') await (tx as SqlConnection).query(sql, args);
      else throw new TypeError('enqueueMail needs a Prisma interactive transaction or a database connection inside a transaction');
      return msgId;
    },
    async close() {
      await lease?.stop();
      await pool?.end().catch(() => undefined);
    },
  };
}
