// The command table is the one surface of the role: every command is documented
// with the access it needs, and the documentation cannot drift from the table.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { ERROR_CODES } from '../../../src/core/control/protocol';
import { ROLE_ACTIONS } from '../../../src/core/config/privileges';
import { commandAccess, ROLE_COMMAND_NAMES, UnknownCommand, zodIssues } from '../../../src/core/role/commands';
import { SITE_PRIVILEGE_LABELS } from '../../../src/core/site/model';

const DOC = path.resolve(__dirname, '../../../docs/control-protocol.md');

describe('the command table', () => {
  it('is documented, command by command, with the access each needs', () => {
    const rows = new Map<string, string>();
    for (const m of fs.readFileSync(DOC, 'utf8').matchAll(/^\| `([a-z]+\.[A-Za-z]+)` \| ([^|]+) \|/gm)) rows.set(m[1], m[2].trim());
    assert.deepEqual([...rows.keys()].sort(), [...ROLE_COMMAND_NAMES].sort(), 'every command, and nothing else');
    for (const name of ROLE_COMMAND_NAMES) {
      const access = commandAccess(name);
      const expected = access === 'public' ? 'none (no session)' : access === 'signedIn' ? 'any signed-in user' : SITE_PRIVILEGE_LABELS[ROLE_ACTIONS[access]];
      assert.equal(rows.get(name), expected, name);
    }
  });

  it('needs a session for all but what a sign-in box needs', () => {
    assert.deepEqual(ROLE_COMMAND_NAMES.filter((n) => commandAccess(n) === 'public').sort(), ['role.state', 'session.signIn', 'site.userNames']);
  });

  it('names argument fields the way forms do, and every session and command code is a documented error code', () => {
    const schema = z.object({ cameras: z.array(z.string()), caseTarget: z.object({ name: z.string() }) }).strict();
    const parsed = schema.safeParse({ cameras: ['a', 3], caseTarget: { name: 1 }, extra: true });
    assert.ok(!parsed.success);
    assert.deepEqual(zodIssues(parsed.error).map((i) => i.field).sort(), ['(arguments)', 'cameras[1]', 'caseTarget.name']);
    const twice = z.object({ id: z.string({ error: 'must be text' }).max(3, 'too long') }).safeParse({ id: [1, 2, 3, 4] });
    assert.ok(!twice.success);
    assert.deepEqual(zodIssues(twice.error), [{ field: 'id', message: 'must be text' }], 'one message a field');
    assert.match(new UnknownCommand('nope').message, /no command "nope"; it knows role\.state, /);
    for (const code of ['UnknownCommand', 'SessionRequired', 'SessionInvalid', 'SessionExpired', 'SignInRefused', 'SignInThrottled', 'SignInLocked', 'NoPasswordSet', 'StateTooNew']) {
      assert.ok((ERROR_CODES as readonly string[]).includes(code), code);
      assert.ok(fs.readFileSync(DOC, 'utf8').includes(`| \`${code}\` |`), `${code} in the doc`);
    }
  });
});
