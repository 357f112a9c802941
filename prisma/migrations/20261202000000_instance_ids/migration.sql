-- Instance numbers for msg ids (the 10 bits between a snowflake's time and its sequence): each running instance
-- leases one here, renews it while it runs and deletes it at stop (src/store/instance-leases.ts). A row whose
-- expires_at has passed belongs to an instance that is gone: another may take it over.

-- CreateTable
CREATE TABLE `instance_lease` (
    `worker_id` INTEGER NOT NULL,
    `owner` VARCHAR(100) NOT NULL,
    `acquired_at` DATETIME(3) NOT NULL,
    `expires_at` DATETIME(3) NOT NULL,

    PRIMARY KEY (`worker_id`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
