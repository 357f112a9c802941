// One configuration schema over the environment, read once at start; a bad variable fails fast by name.
// .env.example lists exactly the keys read here.
import { z } from 'zod';
import { DEFAULT_CRON, isValidCron } from './jobs/cron';
import { parseApiKeys } from './http/security/api-keys';
import { webhookSecretProblem } from './core/webhook-delivery';

const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const bool = (def: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(def ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const name = (def: string) => z.string().regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'letters, digits and _ . : - only').default(def);

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

const shape = z.object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(8080, 0).refine((p) => p <= 65535, 'must be a TCP port'),
    // Unset: every role in one process (with RELIABILITY_SCHEME=delayed-check, the callback service too).
    ROLES: z
      .string()
      .optional()
      .transform((s) => s?.split(',').map((r) => r.trim()).filter(Boolean))
      .pipe(z.array(z.enum(['api', 'listener', 'job', 'callback'])).min(1).optional()),
    // How a lost mail is found (docs/design.md, "Two reliability schemes"). msg-log: the row's status is updated at
    // every step and the re-delivery job finds what stalled. delayed-check: the API writes the row once and publishes
    // a check message delayed by CHECK_DELAY_MS; the callback service finds the listener's confirmation, or asks for a
    // resend.
    RELIABILITY_SCHEME: z.enum(['msg-log', 'delayed-check']).default('msg-log'),
    CHECK_DELAY_MS: int(30_000, 1000),
    // The callback service's table (callback_confirmation) may live in a database of its own; unset: DATABASE_URL.
    CALLBACK_DATABASE_URL: z.string().regex(/^(mysql|mariadb):\/\//, 'must be a mysql:// or mariadb:// URL').optional(),
    DATABASE_URL: z.string().regex(/^(mysql|mariadb):\/\//, 'must be a mysql:// or mariadb:// URL').default('mysql://root@127.0.0.1:3306/mail_dispatch'),
    DATABASE_POOL_SIZE: int(20, 1),
    MIGRATE_ON_START: bool(true),
    // One node, or the nodes of a cluster separated by commas: connections go to any that answers and fail over.
    AMQP_URL: z
      .string()
      .refine((v) => v.split(',').every((u) => /^amqps?:\/\/\S+$/.test(u.trim())), 'must be an amqp:// or amqps:// URL, or several separated by commas')
      .default('amqp://guest:guest@127.0.0.1:5672'),
    // quorum: replicated over the cluster's nodes (Raft); classic: one node's queue, as before
    MQ_QUEUE_TYPE: z.enum(['quorum', 'classic']).default('quorum'),
    MQ_EXCHANGE: name('mail.exchange'),
    MQ_QUEUE: name('mail.queue'),
    MQ_ROUTING_KEY: name('mail.routing.key'),
    /** unacked deliveries per consumer: they wait unclaimed for a lane; enough to keep the lanes fed while outcomes commit */
    MQ_PREFETCH: int(300, 1),
    /** worker threads running the listener; 0 runs it on the main thread */
    LISTENER_THREADS: int(1, 0).refine((n) => n <= 16, 'at most 16'),
    /** the API is busy from this many sends in flight: the same process's background work then yields to it; 0: never */
    API_BUSY_AT: int(8, 0),
    /** deliveries the listener keeps in progress while it yields to a busy API */
    LISTENER_YIELD_CONCURRENCY: int(16, 1),
    SMTP_URL: z.string().regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL').optional(),
    SMTP_POOL_SIZE: int(5, 1),
    SMTP_TIMEOUT_MS: int(30_000, 100),
    MAIL_FROM: z.string().min(3).default('Mail Dispatch <noreply@example.com>'),
    MAX_RECIPIENTS: int(50, 1),
    // Comma-separated sha256:<hex> hashes of the accepted API keys (`npm run apikey` makes one); several for rotation.
    API_KEYS: z.string().default(''),
    // A burst guard per key, sized so the product's own throughput fits under it.
    RATE_LIMIT_PER_KEY: int(60_000, 0),
    // Unset: 1,000 per recipient per hour in production, off elsewhere (load tests send to one address).
    RATE_LIMIT_PER_RECIPIENT: z.coerce.number().int().min(0).optional(),
    IDEMPOTENCY_TTL_HOURS: int(24, 1),
    // Finished mails (consumed, cancelled) older than this are deleted with their history, in the background by the
    // job role (src/jobs/retention-job.ts); dead ones wait for a person and are kept. 0: off, everything is kept.
    RETENTION_DAYS: int(30, 0).refine((d) => d <= 36_500, 'at most 36500 (100 years); 0 turns retention off'),
    REDELIVERY_CRON: z.string().default(DEFAULT_CRON).refine(isValidCron, 'not a valid cron expression'),
    REDELIVERY_BATCH: int(500, 1),
    // Real relays defer for minutes (greylisting waits 5 min, throttles reset per minute or hour): 8 tries at 30 s
    // doubling to at most an hour span about an hour. A relay that is down costs no try (src/listener/relay-circuit.ts).
    MAX_TRIES: int(8, 1),
    BACKOFF_BASE_MS: int(30_000, 0),
    BACKOFF_MAX_MS: int(3_600_000, 0),
    BACKOFF_FACTOR: z.coerce.number().min(1).default(2),
    BACKOFF_JITTER: z.coerce.number().min(0).max(1).default(0.2),
    CONFIRM_TIMEOUT_MS: int(10_000, 100),
    PUBLISH_GRACE_MS: int(30_000, 100),
    CONSUME_DEADLINE_MS: int(15 * 60_000, 1000),
    LEASE_MS: int(120_000, 1000),
    UNCERTAIN_POLICY: z.enum(['resend', 'dead']).default('resend'),
    // Two-phase sending: a prepared mail not committed or cancelled within this is settled by its check-back (a
    // business transaction commits in seconds; a caller that died is found within about a minute).
    PREPARE_TIMEOUT_MS: int(60_000, 1000),
    // Host names (or host:port) check-backs may go to; empty: a checkBackUrl is refused (400), so the server can be
    // made to reach no address by a caller.
    CHECKBACK_ALLOWED_HOSTS: z.string().default(''),
    CHECKBACK_TIMEOUT_MS: int(5_000, 100),
    // Signed webhooks (src/jobs/webhook-job.ts): every final outcome per recipient is POSTed here, signed with
    // WEBHOOK_SECRET the Standard Webhooks way. Unset: no webhooks are sent. The secret is never echoed in an error.
    WEBHOOK_URL: z
      .string()
      .refine(isHttpUrl, 'must be an http:// or https:// URL')
      .optional(),
    WEBHOOK_SECRET: z.string().optional(),
    WEBHOOK_TIMEOUT_MS: int(5_000, 100),
    DEV_FAULTS: bool(false),
    DEV_SMTP_PORT: int(1025, 0),
    DEV_MAIL_UI_PORT: int(1080, 0),
    SNOWFLAKE_WORKER_ID: z.coerce.number().int().min(0).max(1023).optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

const schema = shape.superRefine((c, ctx) => {
    if (c.PUBLISH_GRACE_MS <= c.CONFIRM_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['PUBLISH_GRACE_MS'], message: 'must be longer than CONFIRM_TIMEOUT_MS, or the job would re-send rows whose confirm is still in flight' });
    }
    if (c.LEASE_MS <= c.SMTP_TIMEOUT_MS) {
      ctx.addIssue({ code: 'custom', path: ['LEASE_MS'], message: 'must be longer than SMTP_TIMEOUT_MS, or a slow send would look abandoned' });
    }
    if (c.DEV_FAULTS && c.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['DEV_FAULTS'], message: 'fault injection is for development only and cannot be on in production' });
    }
    if (!c.SMTP_URL && c.NODE_ENV === 'production') {
      ctx.addIssue({ code: 'custom', path: ['SMTP_URL'], message: 'is required in production (development starts a local mail catcher instead)' });
    }
    if (c.RETENTION_DAYS > 0 && c.IDEMPOTENCY_TTL_HOURS > c.RETENTION_DAYS * 24) {
      ctx.addIssue({ code: 'custom', path: ['IDEMPOTENCY_TTL_HOURS'], message: 'must be at most RETENTION_DAYS x 24, or a replayed key could answer with a mail retention deleted' });
    }
    if (c.WEBHOOK_URL && !c.WEBHOOK_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: 'is required when WEBHOOK_URL is set: whsec_ and the base64 of at least 24 random bytes (webhooks are always signed)' });
    }
    const secretProblem = c.WEBHOOK_SECRET === undefined ? null : webhookSecretProblem(c.WEBHOOK_SECRET);
    if (secretProblem) ctx.addIssue({ code: 'custom', path: ['WEBHOOK_SECRET'], message: secretProblem });
    if (c.RELIABILITY_SCHEME === 'delayed-check' && c.CHECK_DELAY_MS * 2 > c.CONSUME_DEADLINE_MS) {
      ctx.addIssue({ code: 'custom', path: ['CHECK_DELAY_MS'], message: 'must be at most half of CONSUME_DEADLINE_MS: the job looks at a mail its checks left unconfirmed only after that deadline' });
    }
    if (c.ROLES?.includes('callback') && c.RELIABILITY_SCHEME !== 'delayed-check') {
      ctx.addIssue({ code: 'custom', path: ['ROLES'], message: 'callback runs only with RELIABILITY_SCHEME=delayed-check' });
    }
    if (c.BACKOFF_MAX_MS < c.BACKOFF_BASE_MS) ctx.addIssue({ code: 'custom', path: ['BACKOFF_MAX_MS'], message: 'must be at least BACKOFF_BASE_MS' });
    // API keys: never echoed in a message (entries are named by number). Production refuses to serve the API without one.
    const keys = parseApiKeys(c.API_KEYS);
    for (const problem of keys.problems) ctx.addIssue({ code: 'custom', path: ['API_KEYS'], message: problem });
    if (c.NODE_ENV !== 'development' && keys.keys.some((k) => k.plain)) {
      ctx.addIssue({ code: 'custom', path: ['API_KEYS'], message: 'holds a plain key; outside development only hashes are accepted (sha256:<64 hex digits>; `npm run apikey` prints one)' });
    }
    if (c.NODE_ENV === 'production' && (c.ROLES?.includes('api') ?? true) && keys.keys.length === 0 && keys.problems.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['API_KEYS'], message: 'is required when NODE_ENV=production: without it the API would be an open mail relay. Run `npm run apikey` and set API_KEYS=sha256:<hex> (comma-separated for several keys)' });
    }
  })
  // From here on API_KEYS holds only hashes, plain development keys included.
  .transform((c) => ({
    ...c,
    ROLES: c.ROLES ?? (c.RELIABILITY_SCHEME === 'delayed-check' ? ['api', 'listener', 'job', 'callback'] : ['api', 'listener', 'job']),
    CALLBACK_DATABASE_URL: c.CALLBACK_DATABASE_URL ?? c.DATABASE_URL,
    API_KEYS: parseApiKeys(c.API_KEYS).keys.map((k) => `sha256:${k.hash.toString('hex')}`),
    RATE_LIMIT_PER_RECIPIENT: c.RATE_LIMIT_PER_RECIPIENT ?? (c.NODE_ENV === 'production' ? 1_000 : 0),
  }));

export type Config = z.output<typeof schema>;
export const CONFIG_KEYS: readonly string[] = Object.keys(shape.shape);

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const input: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') input[k] = v.trim();
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}
