// The engine's event emitter: a listener that throws is reported, and the
// listeners after it still hear the event.
import assert from 'node:assert/strict';
import { Emitter, reportListenerErrors } from '../../src/core/events';

describe('event emitter', () => {
  it('reports a failing listener to its reporter and still calls the others', () => {
    const reported: unknown[] = [];
    const emitter = new Emitter<number>((e) => reported.push(e));
    const heard: number[] = [];
    emitter.event(() => {
      throw new Error('listener broke');
    });
    emitter.event((n) => heard.push(n));
    emitter.fire(7);
    assert.deepEqual(heard, [7]);
    assert.equal(reported.length, 1);
    assert.match((reported[0] as Error).message, /listener broke/);
  });

  it('sends failures of emitters without a reporter to the process-wide one, until it is disposed', () => {
    const reported: unknown[] = [];
    const handle = reportListenerErrors((e) => reported.push(e));
    const emitter = new Emitter<string>();
    const sub = emitter.event(() => {
      throw new TypeError('bad listener');
    });
    emitter.fire('x');
    handle.dispose();
    assert.equal(reported.length, 1);
    assert.ok(reported[0] instanceof TypeError);
    sub.dispose();
    emitter.fire('y');
    assert.equal(reported.length, 1, 'an unsubscribed listener is not called');
  });
});
