import assert from 'node:assert/strict';
import { cameraChoices, operatorTimeText, parseOperatorTime, videoRangeProblem } from '../../../src/core/console/evidenceForm';

describe('the send-video form', () => {
  it('reads a local wall time at the given offset, and ISO 8601 with Z or an offset', () => {
    assert.equal((parseOperatorTime('2026-12-01 14:05', 60) as Date).toISOString(), '2026-12-01T13:05:00.000Z');
    assert.equal((parseOperatorTime(' 2026-12-01T14:05:30 ', -210) as Date).toISOString(), '2026-12-01T17:35:30.000Z');
    assert.equal((parseOperatorTime('2026-12-01T14:05:00Z') as Date).toISOString(), '2026-12-01T14:05:00.000Z');
    assert.equal((parseOperatorTime('2026-12-01T14:05:00+02:00') as Date).toISOString(), '2026-12-01T12:05:00.000Z');
  });

  it('says what it expects for text that is no time, or a date that does not exist', () => {
    for (const bad of ['', 'yesterday', '2026-02-30 10:00', '2026-12-01 24:00', '2026-12-01T10:00:00+2', '<script>']) {
      const r = parseOperatorTime(bad, 0);
      assert.equal(typeof r, 'string', bad);
      assert.match(r as string, /YYYY-MM-DD HH:MM/, bad);
    }
  });

  it('refuses an empty, reversed or longer-than-24-h range before the role would', () => {
    const at = (h: number) => new Date(Date.UTC(2026, 11, 1, h));
    assert.equal(videoRangeProblem(at(1), at(2)), undefined);
    assert.equal(videoRangeProblem(at(0), at(24)), undefined);
    assert.match(videoRangeProblem(at(2), at(2))!, /after the start/);
    assert.match(videoRangeProblem(at(3), at(2))!, /after the start/);
    assert.match(videoRangeProblem(at(0), new Date(at(24).getTime() + 60_000))!, /At most 24 h.*24\.0 h/);
  });

  it('writes a time back as the operator types it, and reads it back to the same instant', () => {
    const at = new Date('2026-12-01T13:05:00Z');
    assert.equal(operatorTimeText(at, 60), '2026-12-01 14:05');
    assert.equal(operatorTimeText(new Date('2026-12-01T13:05:07Z'), 0), '2026-12-01 13:05:07');
    assert.equal((parseOperatorTime(operatorTimeText(at, 330), 330) as Date).getTime(), at.getTime());
  });

  it('lists cameras by where they are, names as plain text', () => {
    const choices = cameraChoices({
      federations: [{ id: 'f', name: 'North', areaIds: ['a'], directCameraIds: ['c3'], cameraIds: ['c1', 'c2', 'c3'] }],
      areas: [{ id: 'a', name: 'Lobby', federationId: 'f', cameraIds: ['c1', 'c2'] }],
      cameras: [
        { id: 'c2', name: 'Lobby B', areaId: 'a', federationId: 'f' },
        { id: 'c1', name: '$(zap) Lobby A', areaId: 'a', federationId: 'f' },
        { id: 'c3', name: '', federationId: 'f' },
        { id: 'c4', name: 'Alone' },
      ],
    });
    assert.deepEqual(
      choices.map((c) => [c.id, c.label, c.description]),
      [
        ['c4', 'Alone', ''],
        ['c1', '$(zap) Lobby A', 'Lobby · North'],
        ['c2', 'Lobby B', 'Lobby · North'],
        ['c3', 'c3', 'North'],
      ],
    );
  });
});
