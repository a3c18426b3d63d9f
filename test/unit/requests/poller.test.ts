import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/core/net/clock';
import { Poller, type PollerStatus } from '../../../src/core/requests/poller';

/** Lets pending promise callbacks run. */
const settle = () => new Promise((r) => setImmediate(r));

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((a, b) => {
    resolve = a;
    reject = b;
  });
  return { promise, resolve, reject };
}

describe('poller', () => {
  it('polls at the interval, one poll at a time, and again at once when asked during a poll', async () => {
    const clock = new ManualClock(0, false);
    let running = 0;
    let most = 0;
    const gates: ReturnType<typeof deferred>[] = [];
    const poller = new Poller({
      clock,
      intervalMs: () => 1000,
      tick: async () => {
        running++;
        most = Math.max(most, running);
        const gate = deferred();
        gates.push(gate);
        await gate.promise;
        running--;
      },
    });
    poller.start();
    await settle();
    assert.equal(gates.length, 1);
    const asked = poller.pollNow();
    void poller.pollNow();
    await settle();
    assert.equal(gates.length, 1, 'no second poll while one runs');
    gates[0].resolve();
    await settle();
    await settle();
    assert.equal(gates.length, 2, 'the request made during a poll is served right after it, without waiting');
    gates[1].resolve();
    await asked;
    await settle();
    assert.equal(poller.snapshot.state, 'waiting');
    assert.deepEqual(clock.sleeps, [1000]);
    clock.advance(999);
    await settle();
    assert.equal(gates.length, 2);
    clock.advance(1);
    await settle();
    assert.equal(gates.length, 3);
    assert.equal(most, 1);
    const stopping = poller.stop();
    gates[2].resolve();
    await stopping;
    assert.equal(poller.snapshot.state, 'stopped');
  });

  it('backs off while polls fail, up to the cap, and returns to the interval after a success', async () => {
    const clock = new ManualClock(0, true);
    let failures = 4;
    let polls = 0;
    const statuses: PollerStatus[] = [];
    const done = deferred();
    const poller = new Poller({
      clock,
      intervalMs: () => 1000,
      maxBackoffMs: 10_000,
      tick: async () => {
        polls++;
        if (polls === 7) done.resolve();
        if (failures-- > 0) throw new Error('connect ECONNREFUSED 127.0.0.1:1');
      },
    });
    poller.onDidChange((s) => statuses.push(s));
    poller.start();
    await done.promise;
    await poller.stop();
    assert.deepEqual(clock.sleeps.slice(0, 6), [2000, 4000, 8000, 10_000, 1000, 1000]);
    const failing = statuses.find((s) => s.state === 'backingOff');
    assert.equal(failing?.lastError, 'connect ECONNREFUSED 127.0.0.1:1');
    const last = poller.snapshot;
    assert.equal(last.consecutiveFailures, 0);
    assert.equal(last.lastError, undefined);
  });

  it('stops cleanly: the poll in flight is aborted and waited for', async () => {
    const clock = new ManualClock(0, false);
    let aborted = false;
    let finished = false;
    const poller = new Poller({
      clock,
      intervalMs: () => 1000,
      tick: (signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => {
            aborted = true;
            setImmediate(() => {
              finished = true;
              reject(signal.reason as Error);
            });
          });
        }),
    });
    poller.start();
    await settle();
    await poller.stop();
    assert.equal(aborted, true);
    assert.equal(finished, true, 'stop resolves only after the tick has ended');
    assert.equal(poller.isRunning, false);
    assert.equal(poller.snapshot.consecutiveFailures, 0, 'an aborted poll is not a failure');
    await poller.pollNow(); // resolves at once when stopped
  });

  it('starts again when start() comes right after stop(), before the loop has ended', async () => {
    const clock = new ManualClock(0, false);
    const gates: ReturnType<typeof deferred>[] = [];
    const poller = new Poller({
      clock,
      intervalMs: () => 1000,
      tick: (signal) => {
        const gate = deferred();
        gates.push(gate);
        signal.addEventListener('abort', () => setImmediate(() => gate.reject(signal.reason as Error)));
        return gate.promise;
      },
    });
    poller.start();
    await settle();
    assert.equal(gates.length, 1);
    const stopping = poller.stop();
    poller.start(); // the tick in flight is still ending
    await stopping;
    await settle();
    assert.equal(poller.isRunning, true, 'running again after the quick restart');
    assert.equal(gates.length, 2, 'and polling');
    assert.equal(poller.snapshot.state, 'polling');
    assert.equal(poller.snapshot.consecutiveFailures, 0, 'the aborted poll is no failure');
    gates[1].resolve();
    await settle();
    assert.equal(poller.snapshot.state, 'waiting');
    // A plain stop still stops, and start after a finished stop works as before.
    const again = poller.stop();
    await again;
    assert.equal(poller.isRunning, false);
    poller.start();
    await settle();
    assert.equal(gates.length, 3);
    const last = poller.stop();
    await last;
    assert.equal(poller.snapshot.state, 'stopped');
  });

  it('applies a changed interval to the next wait', async () => {
    const clock = new ManualClock(0, true);
    let interval = 1000;
    let polls = 0;
    const done = deferred();
    const poller = new Poller({
      clock,
      intervalMs: () => interval,
      tick: async () => {
        if (++polls === 2) interval = 5000;
        if (polls === 4) done.resolve();
      },
    });
    poller.start();
    await done.promise;
    await poller.stop();
    assert.deepEqual(clock.sleeps.slice(0, 3), [1000, 5000, 5000]);
  });
});
