-- Per-recipient outcomes (issue 12). A mail whose recipients all share one fate (the common case: all accepted at
-- once) stores nothing here: its msg_log row says it. Once recipients part ways (one accepted, one greylisted),
-- each gets a row and msg_log.rcpt_state becomes 1, so the listener reads them before the next try.

-- AlterTable
ALTER TABLE `msg_log` ADD COLUMN `rcpt_state` TINYINT NOT NULL DEFAULT 0;

-- CreateTable
CREATE TABLE `msg_recipient` (
    `msg_id` VARCHAR(155) NOT NULL,
    `recipient` VARCHAR(254) NOT NULL,
    `state` TINYINT NOT NULL,
    `failure` VARCHAR(1000) NULL,
    `tries` INTEGER NOT NULL DEFAULT 1,
    `update_time` DATETIME(3) NOT NULL,

    PRIMARY KEY (`msg_id`, `recipient`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTable
-- One row per listener whose relay circuit is open (or was, until it closes): the job, /ready, /metrics and the
-- dashboard read it. A row whose checked_at is old belongs to a listener that is gone and is ignored.
CREATE TABLE `relay_status` (
    `instance` VARCHAR(64) NOT NULL,
    `down_since` DATETIME(3) NULL,
    `checked_at` DATETIME(3) NOT NULL,
    `failure` VARCHAR(1000) NULL,

    PRIMARY KEY (`instance`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
