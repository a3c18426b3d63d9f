// zod schemas whose issues read like ours: each issue becomes a FieldIssue named by the
// field path we have always used (`proxy.port`, `ApiBaseAddresses[0]`,
// `ServicePrincipalKey.d`) and carries the message the schema wrote for that field.
// zod's own wording ("Invalid input: expected string, received number") never reaches
// the operator: every schema here sets its messages.

import type { z } from 'zod';
import { describeType, type FieldIssue } from './fieldErrors';

/** `proxy.port`, `ApiBaseAddresses[0]`: a zod issue path as our messages name fields. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, key) => (typeof key === 'number' ? `${out}[${key}]` : out === '' ? String(key) : `${out}.${String(key)}`),
    '',
  );
}

/**
 * The issues of a failed parse; `whole` names the value itself (an issue with an empty path).
 * zod reports an object's own refinements after all of its fields; `order` (field paths)
 * puts each issue back with its field, in the order the fields are checked.
 */
export function fieldIssues(error: z.ZodError, whole: string, order: readonly string[] = []): FieldIssue[] {
  const issues = error.issues.map((issue) => ({ field: fieldPath(issue.path) || whole, message: issue.message }));
  return order.length === 0 ? issues : issues.sort((a, b) => rankIn(order, a.field) - rankIn(order, b.field));
}

/** Where `field` (or the nearest field it is part of) stands in `order`; unknown ones last. */
function rankIn(order: readonly string[], field: string): number {
  for (let at = field, up = ''; ; at = up) {
    const i = order.indexOf(at);
    if (i >= 0) return i;
    up = at.replace(/(\.[^.[]+|\[\d+\])$/, '');
    if (up === at) return order.length;
  }
}

/** A refused value as messages show it: a number as written (never a secret), anything else by its type. */
export function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : describeType(value);
}

/**
 * The `error` option of a type check: `must be <what>; found <its type>`, or `missing`
 * (when given) for an absent value.
 */
export function mustBe(what: string, missing?: string): { error: (issue: { input?: unknown }) => string } {
  return {
    error: (issue) => (issue.input === undefined && missing !== undefined ? missing : `must be ${what}; found ${describeType(issue.input)}`),
  };
}

/**
 * A refinement from a hand-written `…Problem` function (undefined: no problem), for the
 * checks that read better as code than as a chain: one message per field, the first that applies.
 */
export function problem<T>(check: (value: T) => string | undefined): (value: T, ctx: z.RefinementCtx<T>) => void {
  return (value, ctx) => {
    const message = check(value);
    if (message !== undefined) ctx.addIssue({ code: 'custom', message, input: value });
  };
}
