import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Keyv from 'keyv';
import { CameraRegistry, type CameraRegistryEvent, type CameraTreeNode } from '../../../src/core/registry/cameraRegistry';
import { SelectionRefused } from '../../../src/core/registry/registrySelection';
import { LocalFolderSite, SAMPLE_CAMERA_IDS, SAMPLE_SITE_FILE } from '../../../src/core/site';
import { JournalStore } from '../../../src/core/store/journalStore';

const area = (name: string) => SAMPLE_SITE_FILE.areas.find((a) => a.name === name)!.id;
const federation = SAMPLE_SITE_FILE.federations[0].id;
const LOBBY = SAMPLE_CAMERA_IDS['Lobby Entrance']!;
const GATE = SAMPLE_CAMERA_IDS['Annex Gate']!;
const DOCK = SAMPLE_CAMERA_IDS['Loading Dock']!;

function find(nodes: CameraTreeNode[], id: string): CameraTreeNode | undefined {
  for (const n of nodes) {
    if (n.id === id) return n;
    const inner = find(n.children, id);
    if (inner) return inner;
  }
  return undefined;
}

describe('camera registry (selection kept in the role state)', () => {
  let dir: string;
  let site: LocalFolderSite;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'camera-registry-'));
    await writeFile(path.join(dir, 'site.json'), JSON.stringify(SAMPLE_SITE_FILE));
    site = new LocalFolderSite(dir, '/usr/bin/ffmpeg');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('keeps the selection and the last publication across a restart', async () => {
    const file = path.join(dir, 'state.jsonl');
    const store = new JournalStore({ path: file });
    const registry = await CameraRegistry.open(new Keyv({ store, namespace: 'role' }), site);
    const events: CameraRegistryEvent[] = [];
    registry.onDidChange((e) => events.push(e));
    const change = await registry.add({ kind: 'area', id: area('Main Building') });
    assert.equal(change?.camerasAdded.length, 5);
    assert.equal(await registry.add({ kind: 'area', id: area('Main Building') }), undefined, 'adding again changes nothing');
    await registry.add({ kind: 'camera', id: GATE });
    assert.equal(await registry.publishPending(), true);
    const result = await registry.discoveryResult();
    assert.equal(result.cameras.length, 6);
    assert.ok(result.cameras.every((c) => c.id && c.name && c.location));
    await registry.markPublished('job-1', result, new Date('2026-01-01T00:00:00Z'));
    assert.equal(await registry.publishPending(), false);
    assert.deepEqual(events.map((e) => e.kind), ['selection', 'selection', 'published']);
    await store.disconnect();

    const reopened = await CameraRegistry.open(new Keyv({ store: new JournalStore({ path: file }), namespace: 'role' }), site);
    assert.deepEqual(reopened.selection.toJSON(), [{ kind: 'area', id: area('Main Building') }, { kind: 'camera', id: GATE }]);
    assert.equal(reopened.lastPublished?.jobId, 'job-1');
    assert.equal(await reopened.publishPending(), false);
    assert.equal(await reopened.includes(LOBBY), true);
    assert.equal(await reopened.includes(DOCK), false);
  });

  it('refuses to remove a camera of a selected area and changes nothing; removes the area whole', async () => {
    const registry = await CameraRegistry.open(new Keyv(), site);
    await registry.add({ kind: 'area', id: area('Main Building') });
    await assert.rejects(registry.remove({ kind: 'camera', id: LOBBY }), (e: Error) => e instanceof SelectionRefused && /remove the whole area/.test(e.message));
    assert.equal((await registry.effectiveCameras()).length, 5);
    const change = await registry.remove({ kind: 'area', id: area('Main Building') });
    assert.equal(change?.camerasRemoved.length, 5);
    assert.equal((await registry.effectiveCameras()).length, 0);
    await assert.rejects(registry.add({ kind: 'camera', id: 'no-such-camera' }), SelectionRefused);
  });

  it('renders a tree that says what is selected, included, locked and published', async () => {
    const registry = await CameraRegistry.open(new Keyv(), site);
    await registry.add({ kind: 'federation', id: federation });
    await registry.markPublished('j', { cameras: [{ id: DOCK, name: 'Loading Dock' }] }, new Date());
    const { tree, effectiveCameraIds, publishPending } = await registry.snapshot();
    assert.deepEqual(tree.map((n) => n.kind), ['federation', 'area', 'area']);
    const fed = find(tree, federation)!;
    assert.equal(fed.selected, true);
    const warehouse = find(tree, area('Annex Warehouse'))!;
    assert.equal(warehouse.selected, false);
    assert.equal(warehouse.included, true);
    assert.equal(warehouse.lockedBy?.id, federation);
    const dock = find(tree, DOCK)!;
    assert.equal(dock.included, true);
    assert.equal(dock.published, true);
    assert.equal(find(tree, GATE)?.published, false);
    assert.equal(find(tree, LOBBY)?.included, false);
    assert.equal(effectiveCameraIds.length, 3);
    assert.equal(publishPending, true);
  });
});
