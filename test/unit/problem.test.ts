import { AppError, problemOf } from '../../src/errors';
import { toAppError } from '../../src/http/problem';

/** The shape body-parser gives its errors (http-errors with a `type`). */
const bodyParserError = (type: string, status: number) => Object.assign(new Error(type), { type, status, expose: true });

describe('toAppError', () => {
  test.each([
    ['entity.parse.failed', 400, 'MALFORMED_JSON', 400],
    ['entity.too.large', 413, 'PAYLOAD_TOO_LARGE', 413],
    ['encoding.unsupported', 415, 'UNSUPPORTED_MEDIA_TYPE', 415],
    ['charset.unsupported', 415, 'UNSUPPORTED_MEDIA_TYPE', 415],
  ])('the body-parser error %s becomes %s', (type, status, code, httpStatus) => {
    const appError = toAppError(bodyParserError(type, status));
    expect(appError).toBeInstanceOf(AppError);
    expect(appError.code).toBe(code);
    expect(appError.status).toBe(httpStatus);
  });

  test('an AppError passes through as the same object', () => {
    const err = new AppError('MAIL_NOT_FOUND', 'no mail 1');
    expect(toAppError(err)).toBe(err);
  });

  test('a database outage becomes DATABASE_UNAVAILABLE (503)', () => {
    const appError = toAppError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(appError.code).toBe('DATABASE_UNAVAILABLE');
    expect(appError.status).toBe(503);
  });

  test('a database outage wrapped as the cause of another error is recognised too', () => {
    const wrapped = new Error('query failed', { cause: { code: 'ER_GET_CONNECTION_TIMEOUT' } });
    expect(toAppError(wrapped).code).toBe('DATABASE_UNAVAILABLE');
  });

  test('a duplicate key is a bug, not an outage: INTERNAL', () => {
    expect(toAppError({ code: 'ER_DUP_ENTRY', errno: 1062 }).code).toBe('INTERNAL');
  });

  test.each<[string, unknown]>([
    ['a plain Error', new Error('secret stack detail')],
    ['an unknown body-parser type', bodyParserError('stream.not.readable', 500)],
    ['a string', 'oops'],
    ['null', null],
    ['undefined', undefined],
    ['a number', 7],
  ])('%s becomes INTERNAL (500)', (_name, err) => {
    const appError = toAppError(err);
    expect(appError.code).toBe('INTERNAL');
    expect(appError.status).toBe(500);
  });

  test('an unexpected error does not leak its message into the problem', () => {
    const problem = problemOf(toAppError(new Error('password=hunter2 at db.internal')));
    expect(JSON.stringify(problem)).not.toContain('hunter2');
    expect(problem.detail).toBeUndefined();
  });
});
