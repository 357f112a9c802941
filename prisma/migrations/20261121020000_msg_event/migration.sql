-- CreateTable
CREATE TABLE `msg_event` (
    `id` BIGINT UNSIGNED NOT NULL,
    `msg_id` VARCHAR(155) NOT NULL,
    `at` DATETIME(3) NOT NULL,
    `from_status` INTEGER NULL,
    `to_status` INTEGER NOT NULL,
    `try_count` INTEGER NOT NULL,
    `lease` INTEGER NOT NULL DEFAULT 0,
    `error` VARCHAR(1000) NULL,
    `next_try_time` DATETIME(3) NULL,
    `ms_in_previous_state` INTEGER NULL,

    INDEX `idx_msg_event_at`(`at`, `from_status`, `to_status`),
    PRIMARY KEY (`msg_id`, `id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- CreateTrigger (hand-written: Prisma does not model triggers)
-- The history of every mail, written by the database in the statement that moves the row, so it is exact:
-- an UPDATE that lost its race (its guard matched nothing) fires nothing, and no round trip is added.
-- Each trigger is one statement (INSERT ... SELECT ... FROM DUAL WHERE ...), so it needs no DELIMITER.
-- id is UUID_SHORT(), not AUTO_INCREMENT: an INSERT ... SELECT counts as a bulk insert, which takes InnoDB's
-- table-level AUTO-INC lock (innodb_autoinc_lock_mode=1, MariaDB's default) and serialised every transition
-- (and failed with ER_AUTOINC_READ_FAILED under load). UUID_SHORT() increases on one server, so (msg_id, id)
-- orders a mail's history; the clustered key puts a mail's history together for its timeline.
CREATE TRIGGER `msg_log_event_insert` AFTER INSERT ON `msg_log` FOR EACH ROW
    INSERT INTO `msg_event` (`id`, `msg_id`, `at`, `from_status`, `to_status`, `try_count`, `lease`, `error`, `next_try_time`, `ms_in_previous_state`)
    SELECT UUID_SHORT(), NEW.`msg_id`, UTC_TIMESTAMP(3), NULL, NEW.`status`, NEW.`try_count`, 0, NEW.`last_error`, NEW.`next_try_time`, NULL
    FROM DUAL;

-- CreateTrigger (hand-written)
-- Recorded when the status, the try count or the lease holder changes (a claim changes only the holder).
-- lease: 1 a listener claimed the row, -1 the transition released a lease, 0 neither.
-- ms_in_previous_state: NEW.update_time - OLD.update_time, e.g. the confirm latency of sending -> delivered.
CREATE TRIGGER `msg_log_event_update` AFTER UPDATE ON `msg_log` FOR EACH ROW
    INSERT INTO `msg_event` (`id`, `msg_id`, `at`, `from_status`, `to_status`, `try_count`, `lease`, `error`, `next_try_time`, `ms_in_previous_state`)
    SELECT UUID_SHORT(), NEW.`msg_id`, UTC_TIMESTAMP(3), OLD.`status`, NEW.`status`, NEW.`try_count`,
        CASE WHEN NEW.`lease_owner` IS NOT NULL AND NOT (NEW.`lease_owner` <=> OLD.`lease_owner`) THEN 1
             WHEN NEW.`lease_owner` IS NULL AND OLD.`lease_owner` IS NOT NULL THEN -1
             ELSE 0 END,
        IF(NEW.`try_count` <> OLD.`try_count` OR NOT (NEW.`last_error` <=> OLD.`last_error`), NEW.`last_error`, NULL),
        NEW.`next_try_time`,
        LEAST(TIMESTAMPDIFF(MICROSECOND, OLD.`update_time`, NEW.`update_time`) DIV 1000, 2147483647)
    FROM DUAL
    WHERE NEW.`status` <> OLD.`status` OR NEW.`try_count` <> OLD.`try_count` OR NOT (NEW.`lease_owner` <=> OLD.`lease_owner`);
