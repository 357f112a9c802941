-- AlterTable
ALTER TABLE `msg_log` ADD COLUMN `uncertain_count` INTEGER NOT NULL DEFAULT 0;
