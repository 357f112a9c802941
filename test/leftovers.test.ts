// Runs last (test/support/last-sequencer.js): CI runs on services shared with the next run, so every database,
// user, queue, exchange and policy a test creates must be gone when the run ends. What is left is removed here.
import { findLeftovers, removeLeftovers, type Leftover } from './support/leftovers';
import { RUN_ID } from './support/services';

describe('the shared services after the whole run', () => {
  let leftovers: Leftover[] = [];

  afterAll(() => removeLeftovers(leftovers));

  test('hold no database, user, queue, exchange or policy that this run created', async () => {
    leftovers = await findLeftovers(RUN_ID);
    expect(leftovers.map((l) => `${l.kind} ${l.name}`)).toEqual([]);
  });
});
