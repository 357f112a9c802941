-- CreateTable
CREATE TABLE `msg_log` (
    `msg_id` VARCHAR(155) NOT NULL,
    `msg` TEXT NOT NULL,
    `exchange` VARCHAR(255) NOT NULL DEFAULT '',
    `routing_key` VARCHAR(255) NOT NULL DEFAULT '',
    `status` INTEGER NOT NULL DEFAULT 0,
    `try_count` INTEGER NOT NULL DEFAULT 0,
    `next_try_time` DATETIME(3) NULL,
    `create_time` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `update_time` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `last_error` VARCHAR(1000) NULL,
    `lease_until` DATETIME(3) NULL,
    `lease_owner` VARCHAR(64) NULL,

    INDEX `idx_msg_log_next_try_time`(`next_try_time`),
    INDEX `idx_msg_log_status_update_time`(`status`, `update_time`),
    PRIMARY KEY (`msg_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
