// The view models the console's trees and status bar render, over real data:
// a camera registry built by the role's CameraRegistry from the sample site
// (and from a generated site of 10,000 cameras), video requests, upload job
// snapshots, a real activity trail and a ConsoleState fed with role events.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Keyv from 'keyv';
import { ActivityTrail, type ActivityRecord } from '../../../src/core/audit/activityTrail';
import { ConsoleState, type VisibleSnapshot } from '../../../src/core/console/consoleState';
import {
  activityItems,
  CameraIndex,
  cameraNodes,
  formatAge,
  formatBytes,
  formatDuration,
  formatLocal,
  formatRate,
  machineOffsetMinutes,
  pendingBadge,
  publishedCount,
  requestGroups,
  statusBarText,
  statusBarTooltip,
  statusBarWarning,
  uploadActions,
  uploadItems,
  type CameraNode,
  type CameraTreeView,
  type RequestLike,
  type UploadHistoryNode,
  type UploadItem,
} from '../../../src/core/console/views';
import { CameraRegistry, type CameraRegistrySnapshot } from '../../../src/core/registry/cameraRegistry';
import type { SelectionEntry } from '../../../src/core/registry/registrySelection';
import type { VideoRequest, VideoRequestCamera } from '../../../src/core/requests/videoRequest';
import type { UserView } from '../../../src/core/role/snapshot';
import { LocalFolderSite, SAMPLE_CAMERA_IDS, SAMPLE_SITE_FILE, SAMPLE_USER_IDS } from '../../../src/core/site';
import { SITE_FILE_SCHEMA_VERSION, type SiteFile } from '../../../src/core/site/siteFile';
import type { UploadJobSnapshot, UploadJobState } from '../../../src/core/uploads/uploadJob';

const HOSTILE = '<script>alert("owned")</script> <img src=x onerror=alert(1)> [click](command:workbench.action.terminal.new) **bold** &amp; $(zap)';

/** A registry snapshot exactly as the role builds it, for a site file and a selection history. */
async function registrySnapshot(
  dir: string,
  file: SiteFile,
  steps: { add?: SelectionEntry[]; publish?: boolean; remove?: SelectionEntry[] }[],
): Promise<CameraRegistrySnapshot> {
  await writeFile(path.join(dir, 'site.json'), JSON.stringify(file));
  const registry = await CameraRegistry.open(new Keyv(), new LocalFolderSite(dir, '/usr/bin/ffmpeg'));
  try {
    for (const step of steps) {
      for (const e of step.add ?? []) await registry.add(e);
      if (step.publish) await registry.markPublished('job-discovery-1', await registry.discoveryResult(), new Date('2026-12-01T12:00:00Z'));
      for (const e of step.remove ?? []) await registry.remove(e);
    }
    return await registry.snapshot();
  } finally {
    registry.dispose();
  }
}

function walk(nodes: CameraTreeView[], visit: (n: CameraTreeView, depth: number) => void, depth = 0): void {
  for (const n of nodes) {
    visit(n, depth);
    walk(n.children, visit, depth + 1);
  }
}

const ids = (nodes: { id: string }[]) => nodes.map((n) => n.id);

describe('console view models', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'console-views-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('formatting', () => {
    it('formats local time with the given UTC offset, whatever the machine time zone', () => {
      assert.equal(formatLocal('2026-12-01T13:05:09.250Z', 60), '2026-12-01 14:05:09 +01:00');
      assert.equal(formatLocal('2026-12-01T13:05:09Z', 0), '2026-12-01 13:05:09 +00:00');
      assert.equal(formatLocal('2026-12-01T13:05:09Z', -210), '2026-12-01 09:35:09 -03:30');
      assert.equal(formatLocal('2026-12-01T13:05:09Z', 345), '2026-12-01 18:50:09 +05:45');
      assert.equal(formatLocal('2026-12-31T23:30:00Z', 60), '2027-01-01 00:30:00 +01:00', 'crosses the year');
      assert.equal(formatLocal('2026-03-01T02:00:00Z', -300), '2026-02-28 21:00:00 -05:00', 'back across a month');
      assert.equal(formatLocal('not a time', 60), 'not a time');
      // Without an offset: the machine's own at that instant (checked against itself, not a zone).
      const iso = '2026-07-15T08:00:00Z';
      assert.equal(formatLocal(iso), formatLocal(iso, machineOffsetMinutes(new Date(iso))));
      assert.match(formatLocal(iso), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d$/);
    });

    it('formats ages, durations, rates and sizes', () => {
      assert.equal(formatAge(-5_000), 'just now', 'a clock a little ahead');
      assert.equal(formatAge(59_999), 'just now');
      assert.equal(formatAge(5 * 60_000 + 30_000), '5 min ago');
      assert.equal(formatAge(3 * 3600_000 + 59 * 60_000), '3 h ago');
      assert.equal(formatAge(2 * 86_400_000 + 1), '2 d ago');
      assert.equal(formatDuration(45), '0:45');
      assert.equal(formatDuration(44.2), '0:45', 'rounded up');
      assert.equal(formatDuration(0), '0:00');
      assert.equal(formatDuration(599), '9:59');
      assert.equal(formatDuration(3600), '1:00:00');
      assert.equal(formatDuration(3725), '1:02:05');
      assert.equal(formatDuration(36_000 + 61), '10:01:01');
      assert.equal(formatRate(3_100_000), '3.1 MB/s');
      assert.equal(formatRate(3_149_999), '3.1 MB/s');
      assert.equal(formatRate(1_250_000), '1.3 MB/s');
      assert.equal(formatRate(100_000), '0.1 MB/s');
      assert.equal(formatRate(42_400), '42 kB/s');
      assert.equal(formatBytes(512), '512 B');
      assert.equal(formatBytes(12_300_000), '12.3 MB');
      assert.equal(formatBytes(1_230_000_000), '1.2 GB');
    });
  });

  describe('cameras', () => {
    const main = SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Main Building')!.id;
    const parking = SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Parking')!.id;
    const warehouse = SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Annex Warehouse')!.id;
    const annex = SAMPLE_SITE_FILE.federations[0]!.id;
    const cam = (name: string) => `camera:${SAMPLE_CAMERA_IDS[name]!}`;
    let registry: CameraRegistrySnapshot;
    let index: CameraIndex;
    const node = (id: string): CameraNode => {
      const n = index.node(id);
      assert.ok(n, `node ${id}`);
      return n;
    };

    before(async () => {
      // Published: Main Building, Parking North, Bike Shelter, the Harbor Annex federation.
      // Then Garage Ramp is added (not yet published) and Bike Shelter removed (still published).
      registry = await registrySnapshot(dir, SAMPLE_SITE_FILE, [
        {
          add: [
            { kind: 'area', id: main },
            { kind: 'camera', id: SAMPLE_CAMERA_IDS['Parking North']! },
            { kind: 'camera', id: SAMPLE_CAMERA_IDS['Bike Shelter']! },
            { kind: 'federation', id: annex },
          ],
          publish: true,
        },
        { add: [{ kind: 'camera', id: SAMPLE_CAMERA_IDS['Garage Ramp']! }], remove: [{ kind: 'camera', id: SAMPLE_CAMERA_IDS['Bike Shelter']! }] },
      ]);
      index = new CameraIndex(registry);
    });

    it('builds federations › areas › cameras with stable ids that carry no state', async () => {
      const tree = cameraNodes(registry);
      assert.deepEqual(ids(tree), [`federation:${annex}`, `area:${main}`, `area:${parking}`]);
      assert.deepEqual(ids(tree[0]!.children), [`area:${warehouse}`, cam('Annex Gate')]);
      assert.deepEqual(ids(tree[0]!.children[0]!.children), [cam('Loading Dock'), cam('Warehouse Aisle 3')]);
      assert.equal(index.cameraCount, 12);
      assert.equal(index.size, 12 + 3 + 1);
      // The same site with nothing selected: the same ids (a refresh keeps expansion and selection).
      const bare = await registrySnapshot(dir, SAMPLE_SITE_FILE, []);
      const all = (t: CameraTreeView[]) => {
        const out: string[] = [];
        walk(t, (n) => out.push(n.id));
        return out;
      };
      assert.deepEqual(all(cameraNodes(bare)), all(tree));
      for (const id of all(tree)) assert.match(id, /^(camera|area|federation):[0-9a-f-]+$/);
      walk(tree, (n) => {
        assert.deepEqual(ids(n.children), n.childIds);
        for (const c of n.children) assert.equal(c.parentId, n.id);
      });
      // Another selection is the same shape (items refresh alone); another site is not.
      const bareIndex = new CameraIndex(bare);
      assert.equal(bareIndex.structureKey, index.structureKey);
      assert.deepEqual([...bareIndex.ids()].sort(), all(tree).sort());
      const smaller = new CameraIndex(await registrySnapshot(dir, { ...SAMPLE_SITE_FILE, cameras: SAMPLE_SITE_FILE.cameras.slice(1) }, []));
      assert.notEqual(smaller.structureKey, index.structureKey);
    });

    it('checks what is published and locks what a selected area or federation holds', () => {
      const lobby = node(cam('Lobby Entrance'));
      assert.equal(lobby.label, 'Lobby Entrance');
      assert.equal(lobby.checked, true);
      assert.equal(lobby.checkable, false, 'inside a selected area: its box springs back');
      assert.deepEqual(lobby.lockedBy, { kind: 'area', id: main, name: 'Main Building', nodeId: `area:${main}` });
      assert.equal(lobby.description, 'published');
      assert.equal(lobby.entityId, SAMPLE_CAMERA_IDS['Lobby Entrance']);
      assert.equal(lobby.contextValue, 'camera locked');
      assert.equal(
        lobby.tooltip,
        'Lobby Entrance\nCamera · Main Building, ground floor, north doors\nPublished to Clearance\nPart of the selected area "Main Building": remove that area to remove this camera.',
      );

      const mainArea = node(`area:${main}`);
      assert.equal(mainArea.checked, true);
      assert.equal(mainArea.checkable, true);
      assert.equal(mainArea.selected, true);
      assert.equal(mainArea.description, 'selected · 5 of 5 published');
      assert.equal(mainArea.contextValue, 'area selected');

      const north = node(cam('Parking North'));
      assert.deepEqual([north.checked, north.checkable, north.description, north.lockedBy], [true, true, 'published', undefined]);
      const ramp = node(cam('Garage Ramp'));
      assert.deepEqual([ramp.checked, ramp.checkable, ramp.description], [true, true, 'selected, not yet published']);
      assert.match(ramp.tooltip, /Selected; not yet published to Clearance/);
      const bike = node(cam('Bike Shelter'));
      assert.deepEqual([bike.checked, bike.checkable, bike.description], [false, true, 'deselected, still published']);
      const south = node(cam('Parking South'));
      assert.deepEqual([south.checked, south.checkable, south.description, south.published], [false, true, '', false]);
      assert.equal(south.contextValue, 'camera');

      const parkingArea = node(`area:${parking}`);
      assert.deepEqual([parkingArea.checked, parkingArea.checkable, parkingArea.description], [false, true, '2 of 4 published']);

      const fed = node(`federation:${annex}`);
      assert.deepEqual([fed.checked, fed.checkable, fed.selected, fed.description], [true, true, true, 'selected · 3 of 3 published']);
      const warehouseArea = node(`area:${warehouse}`);
      assert.deepEqual([warehouseArea.checked, warehouseArea.checkable], [true, false]);
      assert.equal(warehouseArea.lockedBy?.nodeId, `federation:${annex}`);
      assert.equal(warehouseArea.description, 'selected with Harbor Annex (federated) · 2 of 2 published');
      assert.match(warehouseArea.tooltip, /remove that federation to remove this area/);
      for (const name of ['Loading Dock', 'Annex Gate']) {
        const n = node(cam(name));
        assert.deepEqual([n.checked, n.checkable, n.lockedBy?.kind], [true, false, 'federation'], name);
      }
      assert.equal(publishedCount(registry), 10);
      assert.equal(index.publishedCount, 10);
      for (const n of [lobby, mainArea, fed]) assert.equal(n.textFormat, 'plain');
    });

    it('answers children lazily and finds parents', () => {
      assert.deepEqual(ids(index.roots()), [`federation:${annex}`, `area:${main}`, `area:${parking}`]);
      assert.deepEqual(ids(index.children(`area:${parking}`)), ['Parking North', 'Parking South', 'Garage Ramp', 'Bike Shelter'].map(cam));
      assert.deepEqual(index.children(cam('Lobby Entrance')), []);
      assert.deepEqual(index.children('camera:nope'), []);
      assert.equal(index.node('camera:nope'), undefined);
      assert.equal(index.parent(cam('Loading Dock'))?.id, `area:${warehouse}`);
      assert.equal(index.parent(`area:${warehouse}`)?.id, `federation:${annex}`);
      assert.equal(index.parent(`federation:${annex}`), undefined);
    });

    it('filters case-insensitively on names, keeping the areas and federations around a match', () => {
      const lobby = cameraNodes(registry, 'LOBBY');
      assert.deepEqual(ids(lobby), [`area:${main}`]);
      assert.deepEqual(ids(lobby[0]!.children), [cam('Lobby Entrance')]);

      const dock = cameraNodes(registry, '  dock ');
      assert.deepEqual(ids(dock), [`federation:${annex}`]);
      assert.deepEqual(ids(dock[0]!.children), [`area:${warehouse}`]);
      assert.deepEqual(ids(dock[0]!.children[0]!.children), [cam('Loading Dock')]);

      // An area whose name matches shows with all its cameras.
      const parkingTree = cameraNodes(registry, 'parking');
      assert.deepEqual(ids(parkingTree), [`area:${parking}`]);
      assert.equal(parkingTree[0]!.children.length, 4);

      // "annex" is in the federation's name: the whole federation shows.
      const annexTree = cameraNodes(registry, 'Annex');
      assert.deepEqual(ids(annexTree), [`federation:${annex}`]);
      assert.deepEqual(ids(annexTree[0]!.children), [`area:${warehouse}`, cam('Annex Gate')]);
      assert.equal(annexTree[0]!.children[0]!.children.length, 2);

      // Locations are not names.
      assert.deepEqual(cameraNodes(registry, 'basement'), []);
      assert.deepEqual(cameraNodes(registry, 'no such camera'), []);
      assert.equal(cameraNodes(registry, '   ').length, 3, 'a blank filter filters nothing');

      // The lazy index answers the same.
      assert.deepEqual(ids(index.roots('dock')), [`federation:${annex}`]);
      assert.deepEqual(ids(index.children(`federation:${annex}`, 'dock')), [`area:${warehouse}`]);
      assert.equal(index.isVisible(cam('Annex Gate'), 'dock'), false);
      assert.equal(index.isVisible(cam('Annex Gate'), 'gate'), true);
      assert.equal(index.isVisible(cam('Annex Gate')), true);
      assert.equal(index.roots().length, 3, 'a filter asked before does not stick');
    });

    it('keeps hostile camera names as plain text', async () => {
      const file: SiteFile = {
        schemaVersion: SITE_FILE_SCHEMA_VERSION,
        name: 'Hostile',
        federations: [],
        areas: [{ id: 'area-h', name: '[Area](command:evil)' }],
        cameras: [{ id: 'cam-h', name: HOSTILE, location: '<b>roof</b>', areaId: 'area-h' }],
        users: [],
      };
      const [area] = cameraNodes(await registrySnapshot(dir, file, []));
      assert.equal(area!.label, '[Area](command:evil)');
      const camNode = area!.children[0]!;
      assert.equal(camNode.label, HOSTILE);
      assert.equal(camNode.tooltip, `${HOSTILE}\nCamera · <b>roof</b>\nNot selected`);
      assert.equal(camNode.textFormat, 'plain');
    });

    it('indexes 10,000 cameras in federations › areas › cameras', async () => {
      const file: SiteFile = { schemaVersion: SITE_FILE_SCHEMA_VERSION, name: 'Metro', federations: [], areas: [], cameras: [], users: [] };
      const pad = (n: number) => String(n).padStart(3, '0');
      for (let f = 0; f < 10; f++) {
        file.federations.push({ id: `fed-${f}`, name: `District ${f}` });
        for (let a = 0; a < 9; a++) {
          file.areas.push({ id: `area-${f}-${a}`, name: `District ${f} Zone ${a}`, federationId: `fed-${f}` });
          for (let c = 0; c < 100; c++) file.cameras.push({ id: `cam-${f}-${a}-${c}`, name: `Cam F${f} Z${a} #${pad(c)}`, location: `Pole ${c}`, areaId: `area-${f}-${a}` });
        }
        for (let c = 0; c < 100; c++) file.cameras.push({ id: `cam-${f}-d-${c}`, name: `Cam F${f} Gate #${pad(c)}`, federationId: `fed-${f}` });
      }
      assert.equal(file.cameras.length, 10_000);
      const big = await registrySnapshot(dir, file, [
        { add: [{ kind: 'federation', id: 'fed-0' }, { kind: 'area', id: 'area-1-4' }, { kind: 'camera', id: 'cam-7-2-42' }], publish: true },
        { add: [{ kind: 'camera', id: 'cam-9-d-7' }] },
      ]);
      const bigIndex = new CameraIndex(big);
      assert.equal(bigIndex.cameraCount, 10_000);
      assert.equal(bigIndex.size, 10_000 + 90 + 10, 'every id unique');
      assert.equal(publishedCount(big), 1000 + 100 + 1);

      // Lazily, level by level, as a tree view asks.
      let cameras = 0;
      let checked = 0;
      let locked = 0;
      const seen = new Set<string>();
      const visit = (n: CameraNode): void => {
        assert.ok(!seen.has(n.id), n.id);
        seen.add(n.id);
        if (n.kind === 'camera') {
          cameras++;
          if (n.checked) checked++;
          if (!n.checkable) locked++;
        }
        for (const c of bigIndex.children(n.id)) visit(c);
      };
      for (const r of bigIndex.roots()) visit(r);
      assert.equal(cameras, 10_000);
      assert.equal(checked, big.effectiveCameraIds.length);
      assert.equal(checked, 1000 + 100 + 1 + 1);
      assert.equal(locked, 1000 + 100);
      assert.equal(bigIndex.roots().length, 10);
      assert.equal(bigIndex.children('federation:fed-3').length, 9 + 100);

      const fed0 = bigIndex.node('federation:fed-0')!;
      assert.equal(fed0.description, 'selected · 1000 of 1000 published');
      assert.equal(bigIndex.node('area:area-0-3')!.checkable, false);
      assert.equal(bigIndex.node('camera:cam-0-3-9')!.lockedBy?.nodeId, 'federation:fed-0');
      assert.equal(bigIndex.node('camera:cam-1-4-99')!.lockedBy?.nodeId, 'area:area-1-4');
      assert.equal(bigIndex.node('camera:cam-7-2-42')!.description, 'published');
      assert.equal(bigIndex.node('camera:cam-9-d-7')!.description, 'selected, not yet published');
      assert.equal(bigIndex.node('area:area-7-2')!.description, '1 of 100 published');
      assert.equal(bigIndex.parent('camera:cam-9-d-7')?.id, 'federation:fed-9');

      // One camera out of 10,000, with its path.
      const one = cameraNodes(big, 'cam f7 z2 #042');
      assert.deepEqual(ids(one), ['federation:fed-7']);
      assert.deepEqual(ids(one[0]!.children), ['area:area-7-2']);
      assert.deepEqual(ids(one[0]!.children[0]!.children), ['camera:cam-7-2-42']);
      // A filter matching one camera in every area and gate list.
      let matched = 0;
      walk(cameraNodes(big, '#042'), (n) => {
        if (n.kind === 'camera') {
          matched++;
          assert.match(n.label, /#042$/);
        }
      });
      assert.equal(matched, 100);
      // A federation matching by name keeps all it holds.
      let inDistrict = 0;
      walk(cameraNodes(big, 'district 5'), (n) => void (n.kind === 'camera' && inDistrict++));
      assert.equal(inDistrict, 1000);
    });
  });

  describe('requests', () => {
    const now = new Date('2026-12-01T13:10:00Z');
    const cameras = (...names: string[]): VideoRequestCamera[] => names.map((name) => ({ id: SAMPLE_CAMERA_IDS[name] ?? name, name }));
    let n = 0;
    const request = (status: VideoRequest['status'], receivedAt: string, over: Partial<RequestLike> = {}): RequestLike => ({
      requestId: `req-${++n}`,
      jobId: `job-${n}`,
      cameras: cameras('Lobby Entrance'),
      fromUtc: '2026-12-01T12:50:00Z',
      toUtc: '2026-12-01T13:20:00Z',
      incidentTimeUtc: '2026-12-01T13:05:09Z',
      comments: '',
      caseId: null,
      status,
      receivedAt,
      updatedAt: receivedAt,
      ...over,
    });

    it('groups by status, pending first, then processing, then the final ones', () => {
      n = 0;
      const list: RequestLike[] = [
        request('Canceled', '2026-11-30T10:00:00Z'),
        request('Completed', '2026-12-01T09:00:00Z'),
        request('Pending', '2026-12-01T13:04:30Z', {
          cameras: cameras('Lobby Entrance', 'Reception Desk'),
          requester: 'Det. Sarah Okafor',
          comments: 'Suspect left through the north doors.',
          caseId: 'case-1207',
        }),
        request('Denied', '2026-12-01T08:00:00Z', { decidedBy: 'mchen', denyReason: 'Outside retention' }),
        request('Processing', '2026-12-01T12:00:00Z', { decidedBy: 'mchen', progress: { done: 1, total: 4 } }),
        request('VideoUnavailable', '2026-12-01T07:00:00Z'),
        request('PartiallyCompleted', '2026-12-01T06:00:00Z', { error: 'Garage Ramp: no recording' }),
        request('Pending', '2026-12-01T11:10:00Z', { cameras: cameras('Lobby Entrance', 'Reception Desk', 'Elevator Bank', 'Server Room', 'Garage Ramp') }),
      ];
      const groups = requestGroups(list, now, { timeZoneOffsetMinutes: 60 });
      assert.deepEqual(ids(groups), [
        'requests:Pending',
        'requests:Processing',
        'requests:Completed',
        'requests:PartiallyCompleted',
        'requests:VideoUnavailable',
        'requests:Denied',
        'requests:Canceled',
      ]);
      assert.deepEqual(
        groups.map((g) => [g.label, g.description, g.expanded]),
        [
          ['Pending', '2', true],
          ['Processing', '1', true],
          ['Completed', '1', false],
          ['Partially completed', '1', false],
          ['Video unavailable', '1', false],
          ['Denied', '1', false],
          ['Canceled', '1', false],
        ],
      );
      const pending = groups[0]!;
      assert.equal(pending.tooltip, 'Pending: 2 video requests');
      assert.deepEqual(ids(pending.items), ['request:req-3', 'request:req-8'], 'newest first');
      const [first, second] = pending.items;
      assert.equal(first!.label, 'Lobby Entrance, Reception Desk');
      assert.equal(first!.description, '2026-12-01 14:05:09 +01:00 · 5 min ago');
      assert.equal(
        first!.tooltip,
        [
          'Video request req-3',
          'Requested by: Det. Sarah Okafor',
          'Cameras: Lobby Entrance, Reception Desk',
          'Range: 2026-12-01 13:50:00 +01:00 – 2026-12-01 14:20:00 +01:00',
          'Incident: 2026-12-01 14:05:09 +01:00',
          'Status: Pending',
          'Case: case-1207',
          'Received: 2026-12-01 14:04:30 +01:00',
          'Comments: Suspect left through the north doors.',
        ].join('\n'),
      );
      assert.deepEqual(first!.actions, ['approve', 'deny', 'unavailable']);
      assert.equal(first!.contextValue, 'request approve deny unavailable');
      assert.equal(second!.label, 'Lobby Entrance, Reception Desk, Elevator Bank +2 more');
      assert.match(second!.description, / · 2 h ago$/);
      assert.match(second!.tooltip, /Cameras: Lobby Entrance, Reception Desk, Elevator Bank, Server Room, Garage Ramp/);
      assert.doesNotMatch(second!.tooltip, /Requested by/, 'no requester known: no line');

      const processing = groups[1]!.items[0]!;
      assert.match(processing.tooltip, /^Status: Processing · 1 of 4 steps done$/m);
      assert.match(processing.tooltip, /^Decided by: mchen$/m);
      assert.deepEqual(processing.actions, []);
      assert.equal(processing.contextValue, 'request');
      assert.match(groups[5]!.items[0]!.tooltip, /^Reason: Outside retention$/m);
      assert.match(groups[3]!.items[0]!.tooltip, /^Error: Garage Ramp: no recording$/m);
      assert.match(groups[6]!.items[0]!.description, / · 1 d ago$/);

      assert.deepEqual(requestGroups([], now), []);
      assert.deepEqual(pendingBadge(list), { value: 2, tooltip: '2 video requests pending' });
      assert.deepEqual(pendingBadge(list.slice(0, 3)), { value: 1, tooltip: '1 video request pending' });
      assert.equal(pendingBadge([]), undefined);
    });

    it('keeps hostile comments and names from the service as plain text, unchanged', () => {
      const hostile = request('Pending', '2026-12-01T13:09:00Z', {
        comments: HOSTILE,
        requester: '[Admin](command:clearance.disconnectAccount)',
        cameras: [{ id: 'x', name: '<b>Lobby</b>' }],
      });
      const [group] = requestGroups([hostile], now, { timeZoneOffsetMinutes: 0 });
      const item = group!.items[0]!;
      assert.equal(group!.textFormat, 'plain');
      assert.equal(item.textFormat, 'plain');
      assert.equal(item.label, '<b>Lobby</b>');
      assert.ok(item.tooltip.endsWith(`\nComments: ${HOSTILE}`), item.tooltip);
      assert.ok(item.tooltip.includes('\nRequested by: [Admin](command:clearance.disconnectAccount)\n'));
      assert.equal(item.description, '2026-12-01 13:05:09 +00:00 · 1 min ago');
    });
  });

  describe('uploads', () => {
    const job = (id: string, state: UploadJobState, over: Partial<UploadJobSnapshot> = {}): UploadJobSnapshot => ({
      id,
      title: `Request 42 — Lobby Entrance (${id})`,
      state,
      createdAt: '2026-12-01T12:00:00Z',
      totalBytes: 100_000_000,
      sentBytes: 0,
      rate: 0,
      parts: [
        { index: 0, name: 'lobby-1.mp4', bytes: 60_000_000, sentBytes: 0, state: 'pending', sha256: 'a'.repeat(64), encrypted: true },
        { index: 1, name: 'lobby-2.mp4', bytes: 40_000_000, sentBytes: 0, state: 'pending', sha256: 'b'.repeat(64), encrypted: true },
      ],
      ...over,
    });

    it('describes each job by state with its icon and allowed actions; finished ones go to history', () => {
      const roots = uploadItems(
        [
          job('done-old', 'completed', { sentBytes: 100_000_000, completedAt: '2026-12-01T12:30:00Z', evidenceId: 'ev-1', caseId: 'case-1207' }),
          job('up', 'uploading', { sentBytes: 42_700_000, rate: 3_100_000, secondsLeft: 44.6, createdAt: '2026-12-01T12:01:00Z', videoRequestId: 'req-42' }),
          job('long', 'uploading', { sentBytes: 1_000_000, rate: 25_000, secondsLeft: 3725, createdAt: '2026-12-01T12:02:00Z' }),
          job('fresh', 'uploading', { createdAt: '2026-12-01T12:03:00Z' }),
          job('wait', 'queued', { createdAt: '2026-12-01T12:04:00Z' }),
          job('requeued', 'queued', { sentBytes: 10_000_000, createdAt: '2026-12-01T12:05:00Z' }),
          job('hold', 'paused', { sentBytes: 25_000_000, createdAt: '2026-12-01T12:06:00Z' }),
          job('broke', 'failed', { sentBytes: 5_000_000, error: 'The upload URI expired', createdAt: '2026-12-01T12:07:00Z' }),
          job('almost', 'completing', { sentBytes: 100_000_000, createdAt: '2026-12-01T12:08:00Z' }),
          job('stop', 'canceled', { sentBytes: 3_000_000, completedAt: '2026-12-01T12:40:00Z' }),
          job('done-new', 'completed', { sentBytes: 100_000_000, totalBytes: 12_300_000, completedAt: '2026-12-01T12:50:00Z' }),
        ],
        { timeZoneOffsetMinutes: 60 },
      );
      const items = roots.filter((r): r is UploadItem => r.type === 'upload');
      assert.deepEqual(ids(items), ['up', 'long', 'fresh', 'wait', 'requeued', 'hold', 'broke', 'almost'].map((id) => `upload:${id}`), 'queue order');
      const by = Object.fromEntries(items.map((i) => [i.jobId, i]));
      assert.deepEqual(
        Object.values(by).map((i) => [i.jobId, i.description, i.icon, i.contextValue]),
        [
          ['up', '42% · 3.1 MB/s · 0:45 left', 'sync~spin', 'upload pause cancel'],
          ['long', '1% · 25 kB/s · 1:02:05 left', 'sync~spin', 'upload pause cancel'],
          ['fresh', '0%', 'sync~spin', 'upload pause cancel'],
          ['wait', 'queued', 'clock', 'upload pause cancel'],
          ['requeued', 'queued at 10%', 'clock', 'upload pause cancel'],
          ['hold', 'paused at 25%', 'debug-pause', 'upload resume cancel'],
          ['broke', 'failed at 5%', 'error', 'upload retry cancel'],
          ['almost', '100% · finishing', 'sync~spin', 'upload pause cancel'],
        ],
      );
      assert.equal(by.up!.label, 'Request 42 — Lobby Entrance (up)');
      assert.equal(by.up!.percent, 42);
      assert.equal(
        by.up!.tooltip,
        [
          'Request 42 — Lobby Entrance (up)',
          'State: Uploading',
          'Sent: 42.7 MB of 100.0 MB (42%)',
          'Rate: 3.1 MB/s',
          'Time left: 0:45',
          'Files: 2, encrypted',
          'Video request: req-42',
          'Queued: 2026-12-01 13:01:00 +01:00',
        ].join('\n'),
      );
      assert.match(by.broke!.tooltip, /^Error: The upload URI expired$/m);

      const history = roots.at(-1) as UploadHistoryNode;
      assert.equal(history.type, 'history');
      assert.equal(history.id, 'uploads:history');
      assert.equal(history.description, '3');
      assert.equal(history.tooltip, 'Finished uploads: 2 completed, 1 canceled');
      assert.deepEqual(ids(history.items), ['upload:done-new', 'upload:stop', 'upload:done-old'], 'newest finished first');
      assert.deepEqual(
        history.items.map((i) => [i.description, i.icon, i.contextValue, i.actions]),
        [
          ['completed · 12.3 MB', 'pass', 'upload', []],
          ['canceled', 'close', 'upload', []],
          ['completed · 100.0 MB', 'pass', 'upload', []],
        ],
      );
      assert.match(history.items[2]!.tooltip, /^Finished: 2026-12-01 13:30:00 \+01:00$/m);
      assert.match(history.items[2]!.tooltip, /^Evidence: ev-1$/m);
      assert.equal(roots.length, items.length + 1);

      assert.deepEqual(uploadItems([job('a', 'queued')]).map((r) => r.type), ['upload'], 'no history node without finished jobs');
      assert.deepEqual(uploadItems([]), []);
      assert.deepEqual(uploadActions('completed'), []);
      assert.deepEqual(uploadActions('canceled'), []);
    });

    it('says that an upload started over with new evidence, why, and what it gave up', () => {
      const startedOver = [{ at: '2026-12-02T08:00:00Z', why: 'purged' as const, abandonedEvidenceId: 'ev-old' }];
      const [up] = uploadItems([job('again', 'uploading', { sentBytes: 10_000_000, startedOver, evidenceId: 'ev-new' })], { timeZoneOffsetMinutes: 60 }) as UploadItem[];
      assert.equal(up!.description, '10% · started over');
      assert.match(up!.tooltip, /^Started over with new evidence at 2026-12-02 09:00:00 \+01:00: the service had deleted the incomplete evidence \(after 24 h\) \(was ev-old\)$/m);
      const link = uploadItems([job('link', 'paused', { startedOver: [{ at: '2026-12-02T08:00:00Z', why: 'linkRefused' }] })]) as UploadItem[];
      assert.equal(link[0]!.description, 'paused at 0% · started over');
      assert.match(link[0]!.tooltip, /the upload link was refused \(expired or revoked\)$/m);
      const done = uploadItems([job('fin', 'completed', { sentBytes: 100_000_000, startedOver })]);
      const history = done.at(-1) as UploadHistoryNode;
      assert.equal(history.items[0]!.description, 'completed · 100.0 MB', 'a finished upload says so in its tooltip only');
      assert.match(history.items[0]!.tooltip, /^Started over with new evidence/m);
    });

    it('keeps a hostile title as plain text', () => {
      const [item] = uploadItems([job('h', 'failed', { title: HOSTILE, error: '[retry](command:evil)' })]) as UploadItem[];
      assert.equal(item!.label, HOSTILE);
      assert.equal(item!.textFormat, 'plain');
      assert.ok(item!.tooltip.startsWith(`${HOSTILE}\n`));
      assert.match(item!.tooltip, /^Error: \[retry\]\(command:evil\)$/m);
    });
  });

  describe('activities', () => {
    let records: ActivityRecord[];
    before(async () => {
      let t = Date.parse('2026-12-01T13:00:00Z');
      const trail = await ActivityTrail.open(path.join(dir, 'trail'), () => new Date((t += 65_000)));
      try {
        await trail.append({ type: 'roleStarted', summary: 'Role started' });
        await trail.append({ type: 'requestReceived', summary: 'Video request req-3 received', requestId: 'req-3', cameras: [SAMPLE_CAMERA_IDS['Lobby Entrance']!] });
        await trail.append({
          type: 'uploadCompleted',
          summary: 'Upload completed: Request 42 — Lobby Entrance',
          user: 'mchen',
          evidenceId: 'ev-1',
          caseId: 'case-1207',
          files: [{ name: 'lobby-1.mp4', bytes: 60_000_000, sha256: 'a'.repeat(64) }],
        });
        await trail.append({ type: 'commandRefused', summary: HOSTILE, user: '<i>guest</i>', details: { command: 'uploads.cancel' } });
        records = [...trail.records()];
      } finally {
        trail.dispose();
      }
    });

    it('lists records newest first with local time, user and an icon by type', () => {
      const items = activityItems([records[1]!, records[3]!, records[0]!, records[2]!], { timeZoneOffsetMinutes: 60 });
      assert.deepEqual(ids(items), ['activity:4', 'activity:3', 'activity:2', 'activity:1']);
      assert.deepEqual(
        items.map((i) => [i.label, i.description, i.icon]),
        [
          [HOSTILE, '2026-12-01 14:04:20 +01:00 · <i>guest</i>', 'circle-slash'],
          ['Upload completed: Request 42 — Lobby Entrance', '2026-12-01 14:03:15 +01:00 · mchen', 'cloud-upload'],
          ['Video request req-3 received', '2026-12-01 14:02:10 +01:00', 'mail'],
          ['Role started', '2026-12-01 14:01:05 +01:00', 'play'],
        ],
      );
      assert.equal(
        items[1]!.tooltip,
        [
          'Upload completed: Request 42 — Lobby Entrance',
          'uploadCompleted · record 3',
          'Time: 2026-12-01 14:03:15 +01:00',
          'User: mchen',
          'Case: case-1207',
          'Evidence: ev-1',
          `File: lobby-1.mp4 (60.0 MB, SHA-256 ${'a'.repeat(64)})`,
        ].join('\n'),
      );
      assert.match(items[0]!.tooltip, /^command: uploads\.cancel$/m);
      assert.ok(items[0]!.tooltip.startsWith(`${HOSTILE}\n`));
      for (const i of items) assert.equal(i.textFormat, 'plain');
      assert.deepEqual(records.map((r) => r.seq), [1, 2, 3, 4], 'the input is not reordered');
    });
  });

  describe('status bar', () => {
    const upload = (id: string, state: UploadJobState, sentBytes: number, totalBytes: number): UploadJobSnapshot => ({
      id,
      title: `Upload ${id}`,
      state,
      createdAt: '2026-12-01T12:00:00Z',
      totalBytes,
      sentBytes,
      rate: state === 'uploading' ? 2_000_000 : 0,
      parts: [],
    });
    const pendingRequest = (id: string, status: VideoRequest['status'] = 'Pending'): VideoRequest => ({
      requestId: id,
      jobId: `job-${id}`,
      cameras: [{ id: SAMPLE_CAMERA_IDS['Lobby Entrance']!, name: 'Lobby Entrance' }],
      fromUtc: '2026-12-01T12:50:00Z',
      toUtc: '2026-12-01T13:20:00Z',
      incidentTimeUtc: '2026-12-01T13:05:09Z',
      comments: '',
      caseId: null,
      status,
      receivedAt: '2026-12-01T13:06:00Z',
      updatedAt: '2026-12-01T13:06:00Z',
    });
    const snapshot = (over: Partial<VisibleSnapshot> = {}): VisibleSnapshot => ({
      status: 'running',
      site: { name: 'Riverside Campus', description: 'sample' },
      connection: {
        state: 'online',
        signedIn: true,
        poller: { state: 'waiting', polls: 12, consecutiveFailures: 0, lastSuccessAt: '2026-12-01T13:09:30Z' },
        pollIntervalMs: 30_000,
      },
      ...over,
    });
    const operator: UserView = {
      user: { id: SAMPLE_USER_IDS.mchen!, name: 'mchen', displayName: 'Maya Chen (operator)', privileges: ['viewCameraSelection', 'sendEvidence'] },
      actions: [],
    };

    it('shows uploads in flight with overall progress and pending requests, idle otherwise', () => {
      assert.equal(statusBarText(undefined), '$(shield) Clearance');
      const state = new ConsoleState(
        snapshot({
          uploads: [upload('a', 'uploading', 30_000_000, 50_000_000), upload('b', 'queued', 15_000_000, 50_000_000), upload('c', 'completed', 10, 10), upload('d', 'paused', 1, 10)],
          requests: [pendingRequest('r1'), pendingRequest('r2'), pendingRequest('r3'), pendingRequest('r4', 'Completed')],
        }),
        7,
      );
      try {
        assert.equal(statusBarText(state), '$(cloud-upload) 2 · 45%  $(bell) 3');
        assert.equal(statusBarText(state.snapshot), '$(cloud-upload) 2 · 45%  $(bell) 3', 'a snapshot answers the same');
        // The role's events move the text along.
        state.apply({ kind: 'upload', event: { kind: 'changed', job: upload('a', 'failed', 30_000_000, 50_000_000) } }, 8);
        assert.equal(statusBarText(state), '$(cloud-upload) 1 · 30%  $(error) 1  $(bell) 3');
        state.apply({ kind: 'upload', event: { kind: 'removed', jobId: 'b' } }, 9);
        assert.equal(statusBarText(state), '$(error) 1  $(bell) 3');
        assert.equal(statusBarText({ uploads: [upload('c', 'completed', 10, 10)], requests: [pendingRequest('r4', 'Denied')] }), '$(shield) Clearance');
        assert.equal(statusBarText({ requests: [pendingRequest('r1')] }), '$(bell) 1');
      } finally {
        state.dispose();
      }
    });

    it('says in plain text who is signed in and how the role is', () => {
      const s = snapshot({
        account: { accountId: 'tenant-7', integrationName: 'Riverside' } as VisibleSnapshot['account'],
        uploads: [upload('a', 'uploading', 30_000_000, 50_000_000)],
        requests: [pendingRequest('r1')],
      });
      assert.equal(
        statusBarTooltip(s, operator, 'signedIn', { timeZoneOffsetMinutes: 60 }),
        [
          'Clearance — Riverside Campus',
          'Signed in as Maya Chen (operator) (mchen)',
          'Role: running',
          'Clearance: online',
          'Last successful poll: 2026-12-01 14:09:30 +01:00',
          'Account: Riverside (tenant-7)',
          '1 upload in flight: 60% (30.0 MB of 50.0 MB)',
          '1 video request pending',
        ].join('\n'),
      );
      const down = snapshot({
        connection: {
          state: 'unreachable',
          signedIn: false,
          poller: { state: 'backingOff', polls: 20, consecutiveFailures: 4, lastError: 'poll: ECONNREFUSED' },
          pollIntervalMs: 30_000,
          lastError: 'connect ECONNREFUSED 127.0.0.1:8443 <script>',
        },
      });
      assert.equal(
        statusBarTooltip(down, operator.user, 'signedIn'),
        ['Clearance — Riverside Campus', 'Signed in as Maya Chen (operator) (mchen)', 'Role: running', 'Clearance: unreachable', 'Failed polls in a row: 4', 'Last error: connect ECONNREFUSED 127.0.0.1:8443 <script>'].join('\n'),
      );
      assert.ok(
        statusBarTooltip(s, operator, 'signedIn', { timeZoneOffsetMinutes: 60 }, { pid: 4242, startedAt: '2026-11-30T08:00:00.000Z' })
          .split('\n')
          .includes('Role process 4242 running since 2026-11-30 09:00:00 +01:00 (it keeps running when VS Code closes)'),
        'a role that outlived its window says since when it runs',
      );
      assert.equal(statusBarTooltip(undefined, undefined, 'detached'), 'Clearance\nNo Clearance role is running for this site.');
      assert.equal(statusBarTooltip(undefined, undefined, 'attached'), 'Clearance\nNot signed in');
      const hostileUser: UserView = { user: { id: 'u', name: 'x', displayName: HOSTILE, privileges: [] }, actions: [] };
      assert.ok(statusBarTooltip(undefined, hostileUser, 'signedIn').includes(`Signed in as ${HOSTILE} (x)`));

      assert.equal(statusBarWarning('unreachable'), true);
      for (const state of ['online', 'offline', 'signingIn', 'notConnected', undefined] as const) assert.equal(statusBarWarning(state), false, String(state));
    });
  });
});
