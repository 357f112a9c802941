// What the dashboard's JSON API takes from a request, as zod schemas: the search (GET /api/mails?q=, and the filter of
// a bulk retry) and the body of POST /api/mails/retry. The OpenAPI description derives BulkRetryRequest from the same
// schema (src/http/openapi-schemas.ts), so what is documented is what is checked.
import { z } from 'zod';
import { AppError } from '../../errors';

const SEARCH_MAX = 200;

/** A 400 naming the field that is wrong. */
export function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', `${field}: ${message}`, { errors: [{ field, message }] });
}

/** A search: a msgId, an address or words of the subject; trimmed, and nothing when it is empty. */
const searchSchema = z
  .string({ error: 'must be a string' })
  .trim()
  .max(SEARCH_MAX, `must be at most ${SEARCH_MAX} characters`)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'must not contain control characters')
  .nullish()
  .transform((t) => t || undefined);

export const bulkRetryRequestSchema = z.strictObject(
  {
    dryRun: z.boolean({ error: 'must be true (count only) or false (retry)' }),
    q: searchSchema,
    status: z.literal('dead', { error: 'only dead mails can be retried' }).optional(),
    max: z.number({ error: 'must be a positive integer' }).int('must be a positive integer').min(1, 'must be a positive integer').optional(),
  },
  { error: (issue) => (issue.code === 'unrecognized_keys' ? 'is not a field of a bulk retry' : 'must be a JSON object') },
);

export type BulkRetryBody = z.output<typeof bulkRetryRequestSchema>;

/** The first problem of a zod result as the 400 the dashboard answers (`whole`: the field named when the value itself is wrong). */
function firstProblem(error: z.ZodError, whole: string): AppError {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return invalid(issue.keys[0]!, issue.message);
  return invalid(issue.path.length ? String(issue.path[0]) : whole, issue.message);
}

export function searchOf(q: unknown, field: string): string | undefined {
  const r = searchSchema.safeParse(q);
  if (!r.success) throw firstProblem(r.error, field);
  return r.data;
}

export function bulkRetryBodyOf(body: unknown): BulkRetryBody {
  const r = bulkRetryRequestSchema.safeParse(body);
  if (!r.success) throw firstProblem(r.error, 'body');
  return r.data;
}
