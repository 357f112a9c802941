// Checks every parsed JSON body before anything else reads it: no `__proto__`, `constructor` or `prototype` key at
// any depth (prototype pollution in whatever merges the body later), and no nesting deeper than MAX_JSON_DEPTH.
// Iterative, so a body of 100,000 nested brackets cannot overflow the stack.
import type { RequestHandler } from 'express';
import { AppError } from '../../errors';

/** A mail is two levels deep (the object, its `tos` array); eight leaves room and refuses nesting bombs. */
export const MAX_JSON_DEPTH = 8;
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The reason `value` is refused, or null. Depth counts containers: `{}` is 1, `{"a":[]}` is 2. */
export function jsonProblem(value: unknown, maxDepth = MAX_JSON_DEPTH): AppError | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > maxDepth) return new AppError('JSON_TOO_DEEP', `the body nests deeper than ${maxDepth} levels`);
    if (Array.isArray(v)) {
      for (const item of v) if (typeof item === 'object' && item !== null) stack.push([item, depth + 1]);
      continue;
    }
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) return new AppError('JSON_FORBIDDEN_KEY', `the key "${key}" is not allowed anywhere in the body`);
      const child = (v as Record<string, unknown>)[key];
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return null;
}

/** Mounted right after express.json(): refuses unsafe bodies with a 400 naming the problem. */
export const jsonGuard: RequestHandler = (req, _res, next) => {
  const problem = req.body === undefined ? null : jsonProblem(req.body);
  if (problem) throw problem;
  next();
};
