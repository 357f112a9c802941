// Cron expressions for the re-delivery job (node-cron syntax, with an optional seconds field).
import cron from 'node-cron';

/** Every 10 seconds, as in the documented case's @Scheduled("0/10 * * * * ?"). */
export const DEFAULT_CRON = '*/10 * * * * *';

export function isValidCron(expression: string): boolean {
  return cron.validate(expression);
}
