// Every tuning number of the product, named once with its reason. What a user sets is in src/config.ts; these are
// the product's own choices (measured where a figure is given: docs/performance.md, docs/performance-log.md).
export const TUNING = {
  // ---- the API first
  /** the API must be quiet this long before the work that yields to it goes at full speed again */
  apiQuietMs: 200,
  /** the rate limiter keeps at most this many buckets (API keys, recipient addresses), the least recently used going first, so its memory is bounded */
  rateLimitMaxEntries: 100_000,
  /** an insert refused as a duplicate (an msg id two instances pinned to one SNOWFLAKE_WORKER_ID both made, or an Idempotency-Key row expired or rolled back meanwhile) is tried this many times in all */
  duplicateKeyTries: 3,
  /** expired Idempotency-Keys are deleted by the API, in the background, at most this often, this many per statement */
  idempotencyPurgeEveryMs: 60_000,
  idempotencyPurgeBatch: 1_000,

  // ---- starting and stopping (src/main.ts, src/app.ts)
  /** a wait for readiness (the publisher attached, the roles ready, a broker connection up) looks this often: a flag read, so a start is seen within a few ms */
  readyPollMs: 25,
  /** a graceful stop still running after this exits the process with status 1, so a hung close cannot keep it alive (the listener threads' own bound, SMTP_TIMEOUT_MS + threadStopExtraMs, is 40 s by default) */
  forceExitMs: 60_000,

  // ---- writes gathered into one statement (src/store/batcher.ts)
  /** new rows: no window (a 202 waits for its commit), at most two statements in flight so a batch grows under load */
  insertBatch: { maxItems: 200, maxWaitMs: 0, maxConcurrent: 2 },
  /** claims: no window (a lane may be waiting for its claim) and one statement in flight: each lane's next mail is
   * claimed while the lane still sends (claimsPerLane), which hides the wait, and the claims of lanes freed meanwhile
   * share the next UPDATE and its commit (against two in flight: MariaDB CPU per mail -10 to -15%, the drain after a
   * burst +10%, docs/performance-log.md) */
  claimBatch: { maxItems: 200, maxWaitMs: 0, maxConcurrent: 1 },
  /** consumed marks: 20 ms windows cut the database's CPU per mail by 18% against none; an ack waits at most that */
  consumedBatch: { maxItems: 500, maxWaitMs: 20, maxConcurrent: 1 },
  /** confirms recorded as delivered: the same window, and as many ids per statement */
  confirmMarks: { windowMs: 20, maxItems: 500 },
  /** a confirm waits for a busy API at most this long, and at most this share of the publish grace (the job must never take a held confirm for a lost one) */
  confirmHoldMaxMs: 5_000,
  confirmHoldShareOfGrace: 0.25,
  /** confirms the database refused are written again after this pause (a database that is down is not asked in a loop) */
  confirmRetryMs: 1_000,
  /** writes tried at stop before the confirms left are left to the job */
  confirmCloseAttempts: 3,

  // ---- the listener
  /** claims in hand per SMTP lane: the mail being sent and the next one (drain after a burst 1,126 -> 1,553 mails/s) */
  claimsPerLane: 2,
  /** a claim is renewed this many times per lease: a renewal lost to a database hiccup leaves three more chances */
  renewalsPerLease: 4,
  /** an outcome write is retried with backoff up to this wait (the mail was sent: its outcome must not be dropped) */
  persistMaxWaitMs: 5_000,
  /** the first retry of an outcome write comes after this pause, which then doubles: a hiccup costs little, an outage is not a hot loop */
  persistFirstWaitMs: 100,
  /** a delivery the database could not take goes back to the queue after this pause, so an outage is not a hot loop;
   * on a quorum queue the pause doubles with the message's x-delivery-count up to the maximum, so the same message
   * cycling through an outage counts slowly towards the delivery limit (50 returns take about 45 minutes) */
  retryLaterMs: 2_000,
  retryLaterMaxMs: 60_000,
  /** while the API is busy, waiting deliveries look this often whether it still is */
  yieldPollMs: 5,
  /** on stop, the sends in hand get the SMTP timeout and this much more to record their outcome */
  stopExtraMs: 5_000,
  /** listener threads get the SMTP timeout and this much more to stop before they are terminated */
  threadStopExtraMs: 10_000,
  /** a listener thread that died is started again after this pause, so one that dies at once does not spin */
  threadRespawnMs: 1_000,
  /** a listener thread's heap: it holds at most a prefetch of mails, so memory stays flat under any backlog */
  threadHeapMb: 96,
  /** /metrics waits this long for a listener thread's counters: one that does not answer is left out of that scrape instead of stalling it */
  threadMetricsTimeoutMs: 1_000,

  // ---- the SMTP relay
  /** a lane's connection unused this long is closed: relays drop idle sessions, and an idle one holds a slot of theirs */
  laneIdleMs: 10_000,
  /** probes of a relay that is down: back within seconds is found within seconds; down for an hour is asked twice a minute */
  probeBackoff: { baseMs: 1_000, maxMs: 30_000, factor: 2, jitter: 0.2 },
  /** a listener reports at every probe (30 s at most); one silent this long is gone and no longer counts */
  relayReportFreshMs: 90_000,
  /** /ready asks the relay at most this often (a probe is a connection and a greeting) */
  smtpCheckTtlMs: 5_000,

  // ---- the re-delivery job
  /** a round takes no new batch after this long, so it ends before the next tick of the 10-second cron */
  jobRoundBudgetMs: 8_000,

  // ---- mails held before their first publish: two-phase, scheduled, outbox (src/jobs/check-back-job.ts, due-publisher.ts)
  /** the due publisher looks this often: a mail committed by a service (outbox) or whose sendAt came is published within about this long */
  duePollMs: 250,
  /** it looks only at rows due this recently: an index range of the rows due in the last 10 s, small even while a
   * backlog is due (every due row is in that range, whatever its status); older ones are the 10-second job's */
  dueWindowMs: 10_000,
  /** a prepared mail being asked is held this much longer than the question's timeout, so its answer is applied before anyone asks again */
  checkBackHoldExtraMs: 5_000,
  /** questions in flight at once: many expired prepares do not open as many connections to one business system */
  checkBackConcurrency: 16,
  /** prepares taken per round (a round per job tick; a round that took a full batch does not wait for the next tick) */
  checkBackBatch: 64,

  // ---- the suppression list: each process's copy (src/store/suppression-list.ts)
  suppression: {
    /** the copy reads the list's changes this often: an address suppressed or lifted anywhere counts everywhere within about a second */
    pollMs: 1_000,
    /** each read starts this long before the last change seen: an outcome's transaction commits well within 5 s of its statement */
    overlapMs: 5_000,
    /** rows per read: a first read of a list of 100,000 addresses takes 20 statements, none long */
    pageRows: 5_000,
  },

  // ---- webhooks: signed outcome events delivered from their webhook_event rows (src/jobs/webhook-job.ts)
  webhooks: {
    /** the job looks this often: an outcome reaches the receiver within about this long of its commit (plus the POST) */
    pollMs: 500,
    /** events taken per batch; a round that took a full batch takes the next one at once, so a backlog drains without waiting for polls */
    batch: 64,
    /** POSTs in flight at once: one receiver gets at most this many connections from one instance */
    concurrency: 8,
    /** a taken event is held this much longer than its batch's POSTs may take, so its outcome is recorded before anyone takes it again */
    holdExtraMs: 5_000,
  },

  // ---- retention: old finished mails deleted in the background (src/jobs/retention-job.ts; measured: docs/performance.md#retention)
  retention: {
    /** mails per batch, each batch one transaction: 500 (with 1,000-2,000 history rows) take ~32 ms on average on the
     * 2-core machine, 230 ms at the longest; batches of 2,000 held their locks 90-130 ms and deleted no faster */
    batchRows: 500,
    /** between batches the database is the hot path's alone: retention takes about a quarter of one connection's time,
     * and while 100,000 mails went a new mail's insert and consumed mark took 40 ms at the longest */
    pauseMs: 50,
    /** mails per round at most: about 35 s of work, 28.8 million a day at one round per 10 minutes; a first run over a
     * years-old table catches up over many rounds instead of keeping the database busy for one long stretch */
    maxRowsPerRound: 200_000,
    /** a round every 10 minutes: finished mails are kept for days, so minutes of lateness cost nothing */
    everyMs: 10 * 60_000,
    /** the first round this long after start: soon enough that an instance restarted often still prunes, after the start's own work */
    firstRoundMs: 5_000,
  },

  // ---- the delayed-check scheme (RELIABILITY_SCHEME=delayed-check; src/callback, src/jobs/resend-worker.ts)
  callback: {
    /** unacked checks, confirmations and resend requests per consumer: enough for full batches below */
    prefetch: 500,
    /** a listener's confirmations of the deliveries it took in hand: one message for those of a 20 ms window */
    receiptBatch: { maxItems: 500, maxWaitMs: 20, maxConcurrent: 2 },
    /** confirmations recorded together: one INSERT for many, gathered for at most 20 ms (like the listener's consumed marks) */
    confirmBatch: { maxItems: 500, maxWaitMs: 20, maxConcurrent: 1 },
    /** checks looked up together: one SELECT ... IN for the checks coming due together (they come due as the mails were sent) */
    checkBatch: { maxItems: 500, maxWaitMs: 20, maxConcurrent: 2 },
    /** a message the database could not take goes back after this pause, so an outage is not a hot loop */
    retryLaterMs: 2_000,
    /** on stop, a consumer's deliveries in hand get that pause and this much more to be settled, so one waiting out its pause still goes back before the channel closes */
    stopExtraMs: 1_000,
    /** confirmations are kept a day: every check of a mail comes due within MAX_TRIES x CHECK_DELAY_MS of its last publish */
    keepMs: 24 * 3_600_000,
    /** old confirmations are deleted this often, this many per statement */
    pruneEveryMs: 10 * 60_000,
    pruneBatch: 5_000,
    /** the producer's view of the relay and the mail queue is reused this long across the resend requests of a burst */
    contextTtlMs: 1_000,
    /** rows read per page when an instance starts and sends a check for each row that awaits one */
    sweepPage: 1_000,
  },

  // ---- msg ids: the instance number each process leases (src/store/instance-leases.ts)
  /** an instance id is leased this long: the id of an instance that died is free again after 30 s, and a database away for less costs nothing */
  instanceLeaseMs: 30_000,
  /** the lease is renewed every third of it, so two renewals may fail before it runs out */
  instanceHeartbeatMs: 10_000,
  /** ids stop this long before the lease could have run out by our own clock: room for clock skew between hosts and a slow renewal */
  instanceLeaseSafetyMs: 2_000,
  /** a renewal or take the database refused is tried again after this pause, so ids resume within a second or so of its return */
  instanceLeaseRetryMs: 1_000,
  /** a taker starts at a random one of the lowest this-many free ids, so instances starting together rarely race for one */
  instanceIdTakeSpread: 32,

  // ---- the database connections (src/store/db.ts)
  /** a request waits at most this long for a connection (and a connect takes at most this long): a database that is
   * down is a prompt 503 */
  dbAcquireTimeoutMs: 3_000,
  /** a statement with no answer (a black-holed database) fails after this long instead of hanging a request; the
   * requests queued behind its INSERT fail with it, never sent (src/services/mail-service.ts) */
  dbSocketTimeoutMs: 4_000,
  /** a pool closes, with a proper QUIT, what stayed idle this long (below the socket timeout, which would cut it
   * instead: an idle instance reconnected three or four times a second), keeping one */
  dbIdleTimeoutS: 2,
  /** an INSERT whose connection failed: its row is looked for this long before the answer says "may have been stored" */
  storedLookupMs: 1_000,
  /** creating a missing database on a first start: its one connection waits at most this long for the server */
  dbCreateConnectTimeoutMs: 5_000,
  /** processes starting together wait this long (GET_LOCK, in seconds) for the one applying the migrations before their start fails */
  migrationLockWaitS: 60,

  // ---- the broker
  /** a queue-depth question unanswered this long counts as unknown */
  queueProbeTimeoutMs: 2_000,
  /** queue depths are reused for this long (the dashboard and /metrics ask often) */
  queueDepthCacheMs: 1_000,
  /** a connection attempt whose handshake gets no answer fails after this (a black-holed node must not stall failover) */
  amqpConnectTimeoutMs: 10_000,
  /** heartbeat unless AMQP_URL sets one: a black-holed connection is noticed in seconds, not minutes */
  amqpHeartbeatS: 10,
  /** reconnects go to the next node of AMQP_URL after this pause, doubling per failed round up to the maximum */
  amqpReconnectMs: { initial: 200, max: 5_000 },
  /** a quorum queue dead-letters a message returned this many times (a poison message that kills its consumer each
   * time); a relay outage returns what is in hand once per outage and a database outage about once a minute
   * (retryLaterMaxMs), so real mail gets near it only after most of an hour. The row stays: the job publishes the
   * mail again after CONSUME_DEADLINE_MS. */
  quorumDeliveryLimit: 50,
  /** a quorum mail queue holds at most this many messages: beyond, the broker nacks publishes and the job publishes
   * them again from their rows (the database is the backlog's store; a million is ten times the largest backlog
   * measured). A limit of its own also keeps RabbitMQ 3.10 from rejecting for ever once a max-length policy is
   * removed (with no limit left, a queue that was full never leaves its rejecting state). */
  quorumMaxLength: 1_000_000,
  /** queue:migrate moves this many messages per confirm round: the most an interrupted run can leave in both queues
   * (one at a time costs a round per message, 60 ms each into a quorum queue on the development machine) */
  queueMigrationBatch: 100,
  /** at stop, the wait for outstanding confirms (each bounded by CONFIRM_TIMEOUT_MS) looks this often */
  publishDrainPollMs: 20,

  // ---- the dashboard and /metrics (src/observability/stats.ts, src/http/dashboard)
  stats: {
    /** msg_log's stats are read at most once per this however many ask (dashboards, their live streams, /metrics scrapes) */
    maxAgeMs: 1_000,
    /** throughput is counted in buckets of this many seconds ... */
    bucketSeconds: 10,
    /** ... over the last this-many minutes (a small index range of msg_event, far inside any retention) */
    windowMinutes: 15,
    /** the consumed count (the largest: RETENTION_DAYS of mails) is counted again at most this often ... */
    consumedMinIntervalMs: 1_000,
    /** ... and no sooner than this many times its last count took, so a count grown slow takes at most a twentieth of the time */
    consumedCostFactor: 20,
  },
  live: {
    /** open dashboards get new stats this often (one timer for all of them, pushing only what changed) */
    intervalMs: 1_000,
    /** a stream with nothing new gets a comment line after this long, so proxies keep it open */
    heartbeatMs: 15_000,
    /** a browser whose stream broke reconnects after this long (the SSE `retry:` field) */
    reconnectMs: 2_000,
    /** a tick reuses cached stats only this much younger than its interval: the last tick's, cached just after it began, are read anew, a scrape's from mid-interval are reused */
    freshSlackMs: 50,
  },
  bulkRetry: {
    /** dead mails read per page by a bulk retry */
    batch: 100,
    /** retries in flight at once (each a guarded UPDATE and a publish): a bulk retry of thousands does not flood the database and the broker */
    concurrency: 10,
  },
  /** a mail's page shows at most this many of its history rows, so a mail with a runaway history is still one bounded read */
  mailHistoryRows: 1_000,
} as const;
