import assert from 'node:assert/strict';
import { VIDEO_REQUEST_STATUSES } from '../../../src/core/clearance/api';
import { canTransition, finalStatus, giveBack, IllegalRequestTransition, isFinal, transition, type VideoRequest } from '../../../src/core/requests/videoRequest';

const request: VideoRequest = {
  requestId: 'r1',
  jobId: 'j1',
  cameras: [{ id: 'c1', name: 'Lobby' }],
  fromUtc: '2026-11-23T09:00:00Z',
  toUtc: '2026-11-23T09:10:00Z',
  incidentTimeUtc: '2026-11-23T09:05:00Z',
  comments: '',
  caseId: null,
  status: 'Pending',
  receivedAt: '2026-11-23T09:30:00Z',
  updatedAt: '2026-11-23T09:30:00Z',
};

describe('video request state machine', () => {
  it('follows approve → processing → completed', () => {
    const at = new Date('2026-11-23T10:00:00Z');
    const processing = transition(request, 'Processing', at, { decidedBy: 'alice' });
    assert.equal(processing.status, 'Processing');
    assert.equal(processing.decidedBy, 'alice');
    assert.equal(processing.updatedAt, at.toISOString());
    assert.equal(transition(processing, 'Completed', at).status, 'Completed');
    assert.equal(request.status, 'Pending', 'the original is not changed');
  });

  it('refuses every illegal transition with a clear error', () => {
    const denied = transition(request, 'Denied', new Date(), { denyReason: 'no warrant' });
    assert.throws(() => transition(denied, 'Processing', new Date()), (e: Error) => e instanceof IllegalRequestTransition && /is Denied; it cannot become Processing/.test(e.message));
    assert.throws(() => transition(request, 'Completed', new Date()), IllegalRequestTransition);
    assert.throws(() => transition(request, 'Pending', new Date()), IllegalRequestTransition);
  });

  it('has exactly the seven statuses, five of them final', () => {
    assert.deepEqual(VIDEO_REQUEST_STATUSES.filter(isFinal), ['Completed', 'PartiallyCompleted', 'Denied', 'Canceled', 'VideoUnavailable']);
    for (const from of VIDEO_REQUEST_STATUSES.filter(isFinal)) {
      for (const to of VIDEO_REQUEST_STATUSES) assert.equal(canTransition(from, to), false, `${from} → ${to}`);
    }
  });

  it('derives the final status from camera outcomes', () => {
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Exported' }, { id: 'b', name: 'B', outcome: 'Exported' }]), 'Completed');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Exported' }, { id: 'b', name: 'B', outcome: 'Unavailable' }]), 'PartiallyCompleted');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Exported' }, { id: 'b', name: 'B', outcome: 'Failed' }]), 'PartiallyCompleted');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Unavailable' }]), 'VideoUnavailable');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Unavailable' }, { id: 'b', name: 'B', outcome: 'Unavailable' }]), 'VideoUnavailable');
  });

  it('never calls a failed export or upload "video unavailable": nothing sent and some failed is a failure to report', () => {
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Failed' }]), 'Failed');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Failed' }, { id: 'b', name: 'B', outcome: 'Failed' }]), 'Failed');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Failed' }, { id: 'b', name: 'B', outcome: 'Unavailable' }]), 'Failed');
    assert.equal(finalStatus([{ id: 'a', name: 'A', outcome: 'Unavailable' }, { id: 'b', name: 'B', outcome: 'Failed' }, { id: 'c', name: 'C', outcome: 'Exported' }]), 'PartiallyCompleted');
  });

  it('gives a processing request back (Pending again) and nothing else', () => {
    const at = new Date('2026-11-23T10:00:00Z');
    const processing = transition(request, 'Processing', at);
    const back = giveBack(processing, at, { error: 'export failed' });
    assert.equal(back.status, 'Pending');
    assert.equal(back.error, 'export failed');
    assert.equal(canTransition('Processing', 'Pending'), false, 'not a move the role chooses');
    assert.throws(() => giveBack(request, at), IllegalRequestTransition);
    assert.throws(() => giveBack(transition(processing, 'Completed', at), at), /is Completed; it cannot become Pending/);
  });
});
