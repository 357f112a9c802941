import { AppError, ERRORS, isDatabaseUnavailable, problemOf, type ErrorCode } from '../../src/errors';

const CODES = Object.keys(ERRORS) as ErrorCode[];

describe('ERRORS', () => {
  test.each(CODES)('%s has a 4xx or 5xx status and a title', (code) => {
    const { status, title } = ERRORS[code];
    expect(Number.isInteger(status)).toBe(true);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThanOrEqual(599);
    expect(title.length).toBeGreaterThan(0);
  });

  test('codes are upper snake case, so their problem types are stable slugs', () => {
    for (const code of CODES) expect(code).toMatch(/^[A-Z]+(_[A-Z]+)*$/);
  });

  test.each<[ErrorCode, number]>([
    ['VALIDATION_FAILED', 400],
    ['MALFORMED_JSON', 400],
    ['MAIL_NOT_FOUND', 404],
    ['MAIL_NOT_DEAD', 409],
    ['PAYLOAD_TOO_LARGE', 413],
    ['UNSUPPORTED_MEDIA_TYPE', 415],
    ['RATE_LIMITED', 429],
    ['INTERNAL', 500],
    ['DATABASE_UNAVAILABLE', 503],
  ])('%s is HTTP %i', (code, status) => {
    expect(new AppError(code).status).toBe(status);
  });
});

describe('AppError', () => {
  test('its message is the detail, or the title when there is none', () => {
    expect(new AppError('MAIL_NOT_FOUND', 'no mail 42').message).toBe('no mail 42');
    expect(new AppError('MAIL_NOT_FOUND').message).toBe(ERRORS.MAIL_NOT_FOUND.title);
    expect(new AppError('MAIL_NOT_FOUND')).toBeInstanceOf(Error);
    expect(new AppError('MAIL_NOT_FOUND').name).toBe('AppError');
  });
});

describe('problemOf (RFC 9457)', () => {
  test('a full problem has type, title, status, detail, instance, code and errors', () => {
    const errors = [{ field: 'tos', message: 'invalid domain in "a@b"' }];
    const problem = problemOf(new AppError('VALIDATION_FAILED', '1 field is invalid', { errors }), '/mail/send');
    expect(problem).toEqual({
      type: '/problems/validation-failed',
      title: 'The request is not a valid mail',
      status: 400,
      detail: '1 field is invalid',
      instance: '/mail/send',
      code: 'VALIDATION_FAILED',
      errors,
    });
  });

  test('a bare problem leaves out detail, instance and errors instead of sending them empty', () => {
    const problem = problemOf(new AppError('INTERNAL'));
    expect(problem).toEqual({ type: '/problems/internal', title: 'Internal error', status: 500, code: 'INTERNAL' });
    expect(Object.keys(problem).sort()).toEqual(['code', 'status', 'title', 'type']);
  });

  test.each(CODES)('the problem for %s carries the catalogue status and title and a slug type', (code) => {
    const problem = problemOf(new AppError(code));
    expect(problem.status).toBe(ERRORS[code].status);
    expect(problem.title).toBe(ERRORS[code].title);
    expect(problem.code).toBe(code);
    expect(problem.type).toBe(`/problems/${code.toLowerCase().replace(/_/g, '-')}`);
    expect(problem.type).toMatch(/^\/problems\/[a-z]+(-[a-z]+)*$/);
  });

  test('the problem is plain JSON that round-trips', () => {
    const problem = problemOf(new AppError('MAIL_NOT_DEAD', 'status is consumed'), '/mail/1/retry');
    expect(JSON.parse(JSON.stringify(problem))).toEqual(problem);
  });
});

describe('isDatabaseUnavailable', () => {
  test.each<[string, unknown, boolean]>([
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), true],
    ['ECONNRESET', { code: 'ECONNRESET' }, true],
    ['ETIMEDOUT', { code: 'ETIMEDOUT' }, true],
    ['a pool timeout', { code: 'ER_GET_CONNECTION_TIMEOUT' }, true],
    ['a closed pool', { code: 'ER_POOL_ALREADY_CLOSED' }, true],
    ['too many connections', { code: 'ER_CON_COUNT_ERROR' }, true],
    ['a socket closed unexpectedly', { code: 'ER_SOCKET_UNEXPECTED_CLOSE' }, true],
    ['any fatal driver error', { code: 'ER_SOMETHING_NEW', fatal: true }, true],
    ['a fatal error without code', { fatal: true }, true],
    ['a duplicate key', { code: 'ER_DUP_ENTRY', errno: 1062, fatal: false }, false],
    ['a syntax error', { code: 'ER_PARSE_ERROR', errno: 1064, fatal: false }, false],
    ['a plain Error', new Error('bug'), false],
    ['fatal given as a string', { fatal: 'true' }, false],
    ['null', null, false],
    ['undefined', undefined, false],
    ['a string', 'ECONNREFUSED', false],
    ['a number', 1045, false],
  ])('%s: %p', (_name, err, expected) => {
    expect(isDatabaseUnavailable(err)).toBe(expected);
  });
});
