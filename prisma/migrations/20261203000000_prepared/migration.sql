-- Two-phase sending (POST /mail/prepare, src/services/two-phase.ts): a prepared mail (status 6) waits for its
-- commit or cancel; once it is older than PREPARE_TIMEOUT_MS the job asks its check-back URL, signing the request
-- with the secret of the API key that prepared it (key_id: the first 16 hex digits of the key's hash).

-- AlterTable
ALTER TABLE `msg_log` ADD COLUMN `check_back_url` VARCHAR(2048) NULL,
    ADD COLUMN `key_id` VARCHAR(64) NULL;
