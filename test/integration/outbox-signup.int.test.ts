// The signup example (examples/signup) end to end: a user row and its welcome mail in one Prisma transaction,
// written through the outbox, published by the product's job role and sent by its listener to the SMTP sink.
import request from 'supertest';
import { Status } from '../../src/core/status';
import { startSignup, type SignupService } from '../../examples/signup/server';
import { startFixture, type Fixture } from '../support/fixture';
import { rowOf, uniqueName } from '../support/services';
import { waitFor } from '../support/wait';

describe('the signup example on the transactional outbox', () => {
  let f: Fixture;
  let signup: SignupService;

  beforeAll(async () => {
    f = await startFixture();
    const { exchange, routingKey } = f.topology;
    signup = await startSignup({ databaseUrl: f.db.url, outbox: { exchange, routingKey } });
    f.defer('signup example', () => signup.stop());
  });

  afterAll(() => f?.stop());

  const address = () => `${uniqueName('user')}@example.com`;
  const post = (email: string, name = 'Ada') => request(signup.url).post('/signup').send({ email, name });
  const mailsTo = (email: string) => f.sink.received.filter((m) => m.to.includes(email));
  const usersWith = async (email: string) => Number((await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM `user` WHERE email = ?', [email]))[0]!.n);
  const rowsMailing = async (email: string) => Number((await f.db.pool.query<{ n: number }[]>('SELECT COUNT(*) AS n FROM msg_log WHERE msg LIKE ?', [`%${email}%`]))[0]!.n);

  /** Signs someone else up and waits for their welcome mail: by then the relay has had rounds after what came before. */
  async function anotherSignupDelivered(): Promise<void> {
    const other = address();
    expect((await post(other)).status).toBe(201);
    await waitFor(`the welcome mail to ${other}`, () => mailsTo(other).length === 1);
  }

  test('a signup creates the user and sends exactly one welcome mail, whose msg_log row ends consumed', async () => {
    const email = address();
    const res = await post(email);
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ id: expect.any(Number), email, msgId: expect.stringMatching(/^\d+$/) });
    const { msgId } = res.body as { msgId: string };
    await waitFor('the row consumed', async () => (await rowOf(f.db.pool, msgId))?.status === Status.consumed);
    expect(mailsTo(email)).toEqual([expect.objectContaining({ msgId, subject: 'Welcome!', to: [email] })]);
    expect(await usersWith(email)).toBe(1);
  });

  test('a second signup with the same email answers 409 and never sends a second mail', async () => {
    const email = address();
    expect((await post(email)).status).toBe(201);
    await waitFor(`the first welcome mail to ${email}`, () => mailsTo(email).length === 1);
    const again = await post(email, 'Ada again');
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: `${email} has already signed up` });
    await anotherSignupDelivered();
    expect(mailsTo(email)).toHaveLength(1);
    expect(await rowsMailing(email)).toBe(1);
    expect(await usersWith(email)).toBe(1);
  });

  test('a failure after the mail was enqueued rolls back the user and the mail together, so nothing is ever sent', async () => {
    const email = address();
    const res = await post(email, 'rollback-me');
    expect(res.status).toBe(500);
    expect(await usersWith(email)).toBe(0);
    expect(await rowsMailing(email)).toBe(0);
    await anotherSignupDelivered();
    expect(mailsTo(email)).toHaveLength(0);
  });

  test('a signup whose address the outbox refuses answers 400 and keeps no user', async () => {
    const res = await post('not an address', 'Bob');
    expect(res.status).toBe(400);
    expect(await usersWith('not an address')).toBe(0);
  });
});
