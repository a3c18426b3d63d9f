import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  checkSiteFile,
  LocalFolderSite,
  SAMPLE_CAMERA_IDS,
  SAMPLE_SITE_FILE,
  SAMPLE_USER_IDS,
  SITE_PRIVILEGES,
  SiteError,
  SiteFileError,
} from '../../../src/core/site';

const valid = () => structuredClone(SAMPLE_SITE_FILE) as unknown as Record<string, unknown> & typeof SAMPLE_SITE_FILE;

function issuesOf(value: unknown): { field: string; message: string }[] {
  const r = checkSiteFile(value);
  assert.equal(r.ok, false, 'expected site.json to be refused');
  return r.ok ? [] : r.issues;
}

describe('site.json', () => {
  it('builds the sample site with membership derived from the children', () => {
    const r = checkSiteFile(SAMPLE_SITE_FILE);
    assert.ok(r.ok);
    const m = r.model;
    assert.equal(m.federations.length, 1);
    assert.equal(m.areas.length, 3);
    assert.equal(m.cameras.length, 12);
    assert.equal(m.users.length, 4);
    const federation = m.federations[0]!;
    const warehouse = m.areas.find((a) => a.name === 'Annex Warehouse')!;
    assert.deepEqual(federation.areaIds, [warehouse.id]);
    assert.deepEqual(federation.directCameraIds, [SAMPLE_CAMERA_IDS['Annex Gate']]);
    assert.deepEqual(
      [...federation.cameraIds].sort(),
      [SAMPLE_CAMERA_IDS['Loading Dock'], SAMPLE_CAMERA_IDS['Warehouse Aisle 3'], SAMPLE_CAMERA_IDS['Annex Gate']].sort(),
    );
    const dock = m.cameras.find((c) => c.name === 'Loading Dock')!;
    assert.equal(dock.areaId, warehouse.id);
    assert.equal(dock.federationId, federation.id, 'a camera of a federated area belongs to that federation');
    const lobby = m.cameras.find((c) => c.name === 'Lobby Entrance')!;
    assert.equal(lobby.federationId, undefined);
    assert.ok(m.areas.find((a) => a.name === 'Main Building')!.cameraIds.includes(lobby.id));
  });

  it('names the field of every problem', () => {
    const site = valid();
    (site.cameras[1] as Record<string, unknown>).name = '';
    site.cameras[2]!.areaId = 'no-such-area';
    (site.users[1]!.privileges as string[]).push('launchMissiles');
    site.areas[1]!.id = site.areas[0]!.id;
    site.cameras[3]!.federationId = site.federations[0]!.id; // already in an area
    (site as Record<string, unknown>).schemaVersion = 7;
    const fields = issuesOf(site).map((i) => i.field);
    for (const f of ['cameras[1].name', 'cameras[2].areaId', 'users[1].privileges[4]', 'areas[1].id', 'cameras[3].federationId', 'schemaVersion']) {
      assert.ok(fields.includes(f), `expected an issue for ${f}, got ${fields.join(', ')}`);
    }
  });

  it('refuses wrong types with the found type in the message', () => {
    const site = valid();
    (site as Record<string, unknown>).cameras = { id: 'x' };
    const [first] = issuesOf(site);
    assert.equal(first!.field, 'cameras');
    assert.match(first!.message, /must be an array, found an object/);
    assert.equal(issuesOf([])[0]!.field, '(root)');
    const withBadUser = valid();
    (withBadUser.users as unknown[])[0] = 'admin';
    assert.equal(issuesOf(withBadUser)[0]!.field, 'users[0]');
  });

  describe('LocalFolderSite loading', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'site-file-'));
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('reports a missing site.json', async () => {
      const site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
      await assert.rejects(site.listCameras(), (e: unknown) => e instanceof SiteError && e.code === 'SiteFileMissing' && /site\.json/.test(e.message));
    });

    it('reports invalid JSON and invalid fields, then loads once fixed', async () => {
      const site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
      await writeFile(path.join(dir, 'site.json'), '{ "schemaVersion": 1, ');
      await assert.rejects(site.model(), (e: unknown) => e instanceof SiteFileError && e.field === '(file)');
      const bad = valid();
      delete (bad.cameras[0] as Record<string, unknown>).id;
      await writeFile(path.join(dir, 'site.json'), JSON.stringify(bad));
      await assert.rejects(site.model(), (e: unknown) => {
        assert.ok(e instanceof SiteFileError);
        assert.equal(e.code, 'SiteFileInvalid');
        assert.equal(e.field, 'cameras[0].id');
        assert.match(e.message, /cameras\[0\]\.id: is required/);
        return true;
      });
      await writeFile(path.join(dir, 'site.json'), JSON.stringify(valid()));
      assert.equal((await site.listCameras()).length, 12);
    });

    it('answers privileges per user', async () => {
      await writeFile(path.join(dir, 'site.json'), JSON.stringify(valid()));
      const site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
      for (const p of SITE_PRIVILEGES) assert.equal(await site.hasPrivilege(SAMPLE_USER_IDS.admin!, p), true, p);
      for (const p of SITE_PRIVILEGES) assert.equal(await site.hasPrivilege(SAMPLE_USER_IDS.tbrooks!, p), false, p);
      assert.equal(await site.hasPrivilege(SAMPLE_USER_IDS.mchen!, 'sendEvidence'), true);
      assert.equal(await site.hasPrivilege(SAMPLE_USER_IDS.mchen!, 'viewPluginConfiguration'), false);
      assert.equal(await site.hasPrivilege(SAMPLE_USER_IDS.jrivera!, 'viewRequestApprovers'), true);
      assert.equal(await site.hasPrivilege('nobody', 'sendEvidence'), false);
    });

    it('hands out copies: callers cannot change the site model', async () => {
      await writeFile(path.join(dir, 'site.json'), JSON.stringify(valid()));
      const site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
      (await site.listCameras())[0]!.name = 'changed';
      assert.equal((await site.listCameras())[0]!.name, 'Lobby Entrance');
    });
  });
});
