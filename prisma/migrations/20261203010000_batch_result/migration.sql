-- POST /mail/batch under one Idempotency-Key: the key row keeps the batch's whole answer (one result per mail, in
-- order), replayed as it was; NULL for a single mail, whose msg_id is its answer.

-- AlterTable
ALTER TABLE `idempotency_key` ADD COLUMN `result` TEXT NULL;
