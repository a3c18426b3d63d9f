import assert from 'node:assert/strict';
import { RegistrySelection, SelectionRefused } from '../../../src/core/registry/registrySelection';
import type { SiteModel } from '../../../src/core/site/model';

const site: SiteModel = {
  name: 'HQ',
  federations: [{ id: 'fed', name: 'Downtown', areaIds: ['lobby'], directCameraIds: ['roof'], cameraIds: ['roof', 'door', 'desk'] }],
  areas: [
    { id: 'lobby', name: 'Lobby', federationId: 'fed', cameraIds: ['door', 'desk'] },
    { id: 'parking', name: 'Parking', cameraIds: ['north', 'south'] },
  ],
  cameras: [
    { id: 'roof', name: 'Roof', federationId: 'fed' },
    { id: 'door', name: 'Lobby Door', areaId: 'lobby', federationId: 'fed' },
    { id: 'desk', name: 'Front Desk', areaId: 'lobby', federationId: 'fed' },
    { id: 'north', name: 'Parking North', areaId: 'parking' },
    { id: 'south', name: 'Parking South', areaId: 'parking' },
    { id: 'gate', name: 'Gate' },
  ],
  users: [],
};
const ids = (s: RegistrySelection) => s.effectiveCameras(site).map((c) => c.id);

describe('registry selection', () => {
  it('publishes the union of cameras, areas and federations', () => {
    const s = RegistrySelection.empty()
      .add({ kind: 'camera', id: 'gate' }, site)
      .add({ kind: 'area', id: 'parking' }, site)
      .add({ kind: 'camera', id: 'north' }, site);
    assert.deepEqual(ids(s), ['north', 'south', 'gate']);
    assert.deepEqual(ids(s.add({ kind: 'federation', id: 'fed' }, site)), ['roof', 'door', 'desk', 'north', 'south', 'gate']);
  });

  it('refuses to remove one camera of a selected area, and removes the whole area', () => {
    const s = RegistrySelection.empty().add({ kind: 'area', id: 'parking' }, site);
    assert.throws(() => s.remove({ kind: 'camera', id: 'north' }, site), (e: Error) => e instanceof SelectionRefused && /Parking North.*area "Parking".*remove the whole area/.test(e.message));
    assert.deepEqual(ids(s.remove({ kind: 'area', id: 'parking' }, site)), []);
  });

  it('refuses to remove a camera or an area inside a selected federation', () => {
    const s = RegistrySelection.empty().add({ kind: 'federation', id: 'fed' }, site).add({ kind: 'area', id: 'lobby' }, site);
    assert.throws(() => s.remove({ kind: 'camera', id: 'roof' }, site), SelectionRefused);
    assert.throws(() => s.remove({ kind: 'area', id: 'lobby' }, site), /federation "Downtown"/);
    const withoutFed = s.remove({ kind: 'federation', id: 'fed' }, site);
    assert.deepEqual(ids(withoutFed), ['door', 'desk']);
  });

  it('removes a camera that was selected on its own', () => {
    const s = RegistrySelection.empty().add({ kind: 'camera', id: 'gate' }, site);
    assert.deepEqual(ids(s.remove({ kind: 'camera', id: 'gate' }, site)), []);
  });

  it('refuses unknown ids and survives a JSON round trip, dropping junk', () => {
    assert.throws(() => RegistrySelection.empty().add({ kind: 'camera', id: 'nope' }, site), /no camera with id "nope"/);
    const s = RegistrySelection.empty().add({ kind: 'area', id: 'lobby' }, site).add({ kind: 'camera', id: 'gate' }, site);
    const restored = RegistrySelection.fromJSON(JSON.parse(JSON.stringify([...s.toJSON(), { kind: 'bogus', id: 'x' }, 42, { kind: 'camera', id: 'gate' }])));
    assert.deepEqual(restored.toJSON(), s.toJSON());
    assert.deepEqual(RegistrySelection.fromJSON('garbage').toJSON(), []);
  });
});
