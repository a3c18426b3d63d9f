// What a console reads of a site's role while none runs: whether it has an
// account (to start the role by itself). A real role against the local service
// writes the state; the reader must agree with it and never change it.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileSecretStore } from '../../../src/core/config/secretStore';
import { Role } from '../../../src/core/role/role';
import { hasConnectedAccount, roleStateFileFor } from '../../../src/core/role/roleFolders';
import { LocalFolderSite } from '../../../src/core/site';
import { startWorld, type World } from './world';

describe("a role's folders, read while no role runs", function () {
  this.timeout(60_000);
  let world: World;

  before(async () => {
    world = await startWorld('role-folders');
  });
  after(async () => {
    await world?.stop();
  });

  it('says whether the role has a connected account, without writing its state', async () => {
    const stateDir = path.join(world.dir, 'state');
    assert.equal(hasConnectedAccount(stateDir), false, 'no state yet');
    const options = {
      stateDir,
      site: new LocalFolderSite(world.siteDir, world.ffmpeg),
      secrets: new FileSecretStore(path.join(stateDir, 'secrets.json')),
      lockFile: path.join(world.siteDir, '.clearance-role.lock'),
    };
    let role = await Role.open(options);
    try {
      assert.equal(hasConnectedAccount(stateDir), false, 'a role without an account');
      await role.adoptConnectionFile(fs.readFileSync(world.connectionFile, 'utf8'), world.connectionFile);
    } finally {
      await role.close();
    }
    const before = fs.readFileSync(roleStateFileFor(stateDir));
    assert.equal(hasConnectedAccount(stateDir), true, 'after the import');
    assert.deepEqual(fs.readFileSync(roleStateFileFor(stateDir)), before, 'reading changed nothing');

    role = await Role.open(options);
    try {
      await role.disconnectAccount('admin');
    } finally {
      await role.close();
    }
    assert.equal(hasConnectedAccount(stateDir), false, 'after the disconnect');
  });

  it('counts unreadable state as no account', () => {
    const stateDir = fs.mkdtempSync(path.join(world.dir, 'bad-'));
    fs.writeFileSync(roleStateFileFor(stateDir), '{"op":"set","k":"account:clearance.account","v":"{}"}\nnot json\n{"op":"del","k":"x"}\n');
    assert.equal(hasConnectedAccount(stateDir), false);
  });
});
