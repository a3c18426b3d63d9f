import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Keyv from 'keyv';
import {
  activateRolePrivileges,
  allowedActions,
  checkPrivilege,
  mayDo,
  PrivilegeDenied,
  ROLE_ACTIONS,
  ROLE_PRIVILEGES,
  type RoleAction,
} from '../../../src/core/config/privileges';
import { ValidationError } from '../../../src/core/config/fieldErrors';
import { RequestNotifications } from '../../../src/core/requests/requestNotifications';
import { LocalFolderSite, SAMPLE_SITE_FILE, SAMPLE_USER_IDS, SITE_PRIVILEGES, type Site } from '../../../src/core/site';

describe('privileges: one check for every entry point', () => {
  let dir: string;
  let site: Site;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'privileges-'));
    await writeFile(path.join(dir, 'site.json'), JSON.stringify(SAMPLE_SITE_FILE));
    site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('maps every role action to one of the privileges the role creates', () => {
    for (const privilege of Object.values(ROLE_ACTIONS)) assert.ok(SITE_PRIVILEGES.includes(privilege));
    assert.deepEqual(ROLE_PRIVILEGES.map((p) => p.privilege), [...SITE_PRIVILEGES]);
    assert.deepEqual(ROLE_PRIVILEGES.filter((p) => p.since === '3.4').map((p) => p.label), ['View camera selection', 'View plugin configuration', 'View request notifications']);
  });

  it('lets a user with the privilege through, by id or login name, and answers the user', async () => {
    assert.equal((await checkPrivilege(site, 'admin', 'changeConfiguration')).id, SAMPLE_USER_IDS.admin);
    assert.equal((await checkPrivilege(site, SAMPLE_USER_IDS.mchen!, 'decideRequest')).name, 'mchen');
    assert.equal(await mayDo(site, 'jrivera', 'sendEvidence'), true);
  });

  it('refuses a user without the privilege, naming the privilege and the action', async () => {
    await assert.rejects(checkPrivilege(site, 'mchen', 'changeConfiguration'), (e: Error) => {
      assert.ok(e instanceof PrivilegeDenied);
      assert.equal(e.privilege, 'viewPluginConfiguration');
      assert.match(e.message, /mchen.*"View plugin configuration".*change configuration/);
      return true;
    });
    await assert.rejects(checkPrivilege(site, 'tbrooks', 'changeCameraSelection'), PrivilegeDenied);
    assert.equal(await mayDo(site, 'tbrooks', 'viewRequests'), false);
  });

  it('refuses an unknown user for every action', async () => {
    for (const action of Object.keys(ROLE_ACTIONS) as RoleAction[]) {
      await assert.rejects(checkPrivilege(site, 'nobody', action), /There is no site user "nobody"/);
    }
    assert.deepEqual(await allowedActions(site, 'nobody'), []);
  });

  it('lists what each user may do', async () => {
    assert.deepEqual(await allowedActions(site, 'admin'), Object.keys(ROLE_ACTIONS));
    assert.deepEqual(await allowedActions(site, 'tbrooks'), []);
    const jr = await allowedActions(site, 'jrivera');
    assert.ok(jr.includes('decideRequest') && jr.includes('sendEvidence'));
    assert.ok(!jr.includes('changeCameraSelection') && !jr.includes('sendSnapshot'));
  });

  it('creates the privileges on the first activation only', async () => {
    const state = new Keyv();
    const first = await activateRolePrivileges(state, site, new Date('2026-01-02T03:04:05Z'));
    assert.equal(first.created, true);
    assert.equal(first.activatedAt, '2026-01-02T03:04:05.000Z');
    const second = await activateRolePrivileges(state, site, new Date('2026-02-01T00:00:00Z'));
    assert.equal(second.created, false);
    assert.equal(second.activatedAt, '2026-01-02T03:04:05.000Z');
  });

  it('asks a site that can define privileges to define the missing ones', async () => {
    const defined: string[][] = [];
    const definer = Object.assign(Object.create(site) as Site, {
      definePrivileges: async (defs: readonly { privilege: string }[]) => {
        defined.push(defs.map((d) => d.privilege));
      },
    });
    const state = new Keyv();
    await state.set('role.privileges.activation', { activatedAt: '2025-01-01T00:00:00.000Z', privileges: ['viewCameraSelection', 'viewPluginConfiguration', 'viewRequestNotifications'] });
    const upgraded = await activateRolePrivileges(state, definer, new Date());
    assert.equal(upgraded.created, true, 'a newer version adds its privileges');
    assert.equal(upgraded.activatedAt, '2025-01-01T00:00:00.000Z');
    assert.deepEqual(defined, [['sendEvidence', 'sendSnapshot', 'viewRequestApprovers']]);
  });

  it('keeps request notification users who may see requests, and refuses the others', async () => {
    const state = new Keyv();
    const n = await RequestNotifications.open(state, site);
    const set = await n.set(['mchen', SAMPLE_USER_IDS.jrivera!, 'mchen']);
    assert.deepEqual(set.after, [SAMPLE_USER_IDS.mchen, SAMPLE_USER_IDS.jrivera]);
    await assert.rejects(n.set(['admin', 'tbrooks', 'ghost']), (e: Error) => {
      assert.ok(e instanceof ValidationError);
      assert.deepEqual(e.errors.map((x) => x.field), ['users[1]', 'users[2]']);
      return true;
    });
    assert.deepEqual(n.userIds, [SAMPLE_USER_IDS.mchen, SAMPLE_USER_IDS.jrivera], 'a refused change changes nothing');
    const reopened = await RequestNotifications.open(state, site);
    assert.deepEqual((await reopened.recipients()).map((u) => u.name), ['mchen', 'jrivera']);
  });
});
