import assert from 'node:assert/strict';
import { z } from 'zod';
import { fieldIssues, fieldPath, mustBe, problem } from '../../../src/core/config/schema';

describe('zod issues as field issues', () => {
  it('spells paths as our messages name fields', () => {
    assert.equal(fieldPath(['proxy', 'port']), 'proxy.port');
    assert.equal(fieldPath(['ApiBaseAddresses', 0]), 'ApiBaseAddresses[0]');
    assert.equal(fieldPath(['a', 2, 'b', 0, 1]), 'a[2].b[0][1]');
    assert.equal(fieldPath([]), '');
  });

  it('keeps each field message, names the whole value, and puts refinements back with their field', () => {
    const schema = z.object({
      a: z.string(mustBe('a string', 'missing')),
      b: z.number(mustBe('a number')).superRefine(problem((n) => (n < 0 ? 'must not be negative' : undefined))).optional(),
      c: z.boolean(mustBe('true or false')).optional(),
    }, mustBe('an object')).superRefine((value, ctx) => {
      if (value.c === true && value.b === undefined) ctx.addIssue({ code: 'custom', message: 'required when c is on', path: ['b'] });
    }, { when: () => true });
    const failed = (input: unknown, order?: string[]) => {
      const result = schema.safeParse(input);
      assert.ok(!result.success);
      return fieldIssues(result.error, '(value)', order);
    };
    assert.deepEqual(failed(7), [{ field: '(value)', message: 'must be an object; found a number' }]);
    assert.deepEqual(failed({ b: -1 }), [{ field: 'a', message: 'missing' }, { field: 'b', message: 'must not be negative' }]);
    assert.deepEqual(failed({ a: 1, c: 'x' }), [
      { field: 'a', message: 'must be a string; found a number' },
      { field: 'c', message: 'must be true or false; found a string' },
    ]);
    // zod adds the object's own check last; the order puts it with b, before c.
    assert.deepEqual(failed({ a: 1, c: true }, ['a', 'b', 'c']).map((i) => i.field), ['a', 'b']);
    assert.deepEqual(failed({ a: 'x', c: true, d: 1 }, ['a', 'b', 'c']), [{ field: 'b', message: 'required when c is on' }]);
  });
});
