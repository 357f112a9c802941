-- Webhook events and the suppression list (issue 17).
-- webhook_event: one row per event a receiver must get (a recipient delivered, deferred, bounced, suppressed, or the
-- mail dead), written in the same transaction as the outcome it reports, so an outcome is never recorded without its
-- event. The job delivers due rows (next_try_time) with signed POSTs and backoff; event_id is the webhook-id and is
-- unique, so writing one event twice is a no-op. state: 0 pending, 1 delivered, 2 failed (tries ran out).
-- suppression: recipients refused permanently as unknown, never sent to again until a person lifts them. A lift keeps
-- the row (lifted_time) so every instance's in-memory copy, which reads changes by change_time, sees it.

-- CreateTable
CREATE TABLE `webhook_event` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `event_id` VARCHAR(200) NOT NULL,
    `msg_id` VARCHAR(155) NOT NULL,
    `type` VARCHAR(16) NOT NULL,
    `recipient` VARCHAR(254) NOT NULL,
    `payload` TEXT NOT NULL,
    `state` TINYINT NOT NULL DEFAULT 0,
    `tries` INTEGER NOT NULL DEFAULT 0,
    `next_try_time` DATETIME(3) NULL,
    `last_error` VARCHAR(1000) NULL,
    `create_time` DATETIME(3) NOT NULL,
    `update_time` DATETIME(3) NOT NULL,

    UNIQUE INDEX `uq_webhook_event_event_id`(`event_id`),
    INDEX `idx_webhook_event_next_try_time`(`next_try_time`),
    INDEX `idx_webhook_event_msg_id`(`msg_id`),
    INDEX `idx_webhook_event_state_update_time`(`state`, `update_time`),
    PRIMARY KEY (`id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
CREATE TABLE `suppression` (
    `address` VARCHAR(254) NOT NULL,
    `reason` VARCHAR(1000) NOT NULL,
    `msg_id` VARCHAR(155) NULL,
    `create_time` DATETIME(3) NOT NULL,
    `lifted_time` DATETIME(3) NULL,
    `change_time` DATETIME(3) NOT NULL,

    INDEX `idx_suppression_change_time`(`change_time`),
    PRIMARY KEY (`address`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
