-- CreateTable
CREATE TABLE `idempotency_key` (
    `key_hash` VARCHAR(64) NOT NULL,
    `scope` VARCHAR(64) NOT NULL,
    `fingerprint` VARCHAR(64) NOT NULL,
    `msg_id` VARCHAR(155) NOT NULL,
    `create_time` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    `expire_time` DATETIME(3) NOT NULL,

    INDEX `idx_idempotency_key_expire_time`(`expire_time`),
    PRIMARY KEY (`key_hash`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
