// The upload bandwidth cap (docs/platform-notes.md §8): a token bucket that starts empty and holds
// about 100 ms of rate, so there is no burst at the start or after a pause, and the
// long-run rate is the cap. All time here is a ManualClock: nothing waits for real.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ManualClock } from '../../../src/core/net/clock';
import { BYTES_PER_SECOND_PER_MBPS, mbpsToBytesPerSecond, throttle, TokenBucket } from '../../../src/core/net/bandwidth';

/** Lets the bucket's pump run (promise callbacks and setImmediate). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves a non-automatic clock forward in small steps, as a running timer would. */
async function run(clock: ManualClock, ms: number, stepMs = 5): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(Math.min(stepMs, ms - t));
    await settle();
  }
}

function track(p: Promise<void>): { done: boolean; error?: Error } {
  const state: { done: boolean; error?: Error } = { done: false };
  p.then(
    () => (state.done = true),
    (e: Error) => {
      state.error = e;
    },
  );
  return state;
}

describe('TokenBucket', () => {
  it('converts 1 Mbps to 125,000 bytes/s and holds 100 ms of rate', () => {
    assert.equal(BYTES_PER_SECOND_PER_MBPS, 125_000);
    assert.equal(mbpsToBytesPerSecond(8), 1_000_000);
    const bucket = new TokenBucket(1, { clock: new ManualClock(0, false) });
    assert.equal(bucket.rateBytesPerSecond, 125_000);
    assert.equal(bucket.capacityBytes, 12_500);
  });

  it('starts empty: nothing goes before its time, so there is no burst at the start', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    assert.equal(bucket.availableBytes, 0);
    const first = track(bucket.take(10_000));
    await settle();
    assert.equal(first.done, false);
    assert.equal(bucket.granted, 0);
    clock.advance(79); // 10,000 B at 125,000 B/s take 80 ms
    await settle();
    assert.equal(first.done, false);
    clock.advance(1);
    await settle();
    assert.equal(first.done, true);
    assert.equal(bucket.granted, 10_000);
  });

  it('after a long pause lets at most half a bucket (50 ms of rate) through at once, then the cap', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    await Promise.all([bucket.take(5_000), (async () => { await settle(); clock.advance(40); })()]);
    clock.advance(10 * 60_000); // ten idle minutes earn no more than one bucket…
    assert.equal(bucket.availableBytes, 12_500);
    const before = bucket.granted;
    const big = track(bucket.take(125_000));
    await settle();
    assert.equal(bucket.granted - before, 6_250, '…of which half goes at once');
    for (let i = 1; i <= 9; i++) {
      await run(clock, 100);
      assert.equal(bucket.granted - before, 6_250 + 12_500 * i, `after ${i * 100} ms`);
    }
    assert.equal(big.done, false);
    await run(clock, 50);
    assert.equal(big.done, true);
    assert.equal(bucket.granted - before, 125_000);
  });

  it('keeps what a gap shorter than a bucket earned (between two chunks): no rate is lost', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    await Promise.all([bucket.take(5_000), (async () => { await settle(); clock.advance(40); })()]);
    clock.advance(80); // 80 ms earn 10,000 B, more than half a bucket
    const before = bucket.granted;
    const next = track(bucket.take(10_000));
    await settle();
    assert.equal(next.done, true, 'the whole 10,000 B at once');
    assert.equal(bucket.granted - before, 10_000);
  });

  it('holds the long-run rate to the cap, with no moment above cap × time + one bucket', async () => {
    const clock = new ManualClock(1_000_000); // auto-advancing: each wait jumps ahead
    const mbps = 8; // 1,000,000 B/s
    const bucket = new TokenBucket(mbps, { clock });
    const start = clock.now();
    const rate = mbpsToBytesPerSecond(mbps);
    let sent = 0;
    let worstExcess = -Infinity;
    for (let i = 0; i < 160; i++) {
      await bucket.take(64 * 1024);
      sent += 64 * 1024;
      const allowed = (rate * (clock.now() - start)) / 1000 + bucket.capacityBytes;
      worstExcess = Math.max(worstExcess, sent - allowed);
    }
    const seconds = (clock.now() - start) / 1000;
    const measured = sent / seconds;
    assert.ok(Math.abs(measured - rate) / rate < 0.01, `measured ${measured} B/s for a cap of ${rate}`);
    assert.ok(worstExcess <= 0, `ahead of the cap by ${worstExcess} B`);
  });

  it('loses no rate when its timer fires late', async () => {
    const manual = new ManualClock(0);
    // Every wait ends 3 ms after it was due, as timers on a busy machine do.
    const late = { now: () => manual.now(), sleep: (ms: number, signal?: AbortSignal) => manual.sleep(ms + 3, signal) };
    const bucket = new TokenBucket(1, { clock: late });
    for (let i = 0; i < 100; i++) await bucket.take(12_500);
    const measured = bucket.granted / (manual.now() / 1000);
    assert.ok(Math.abs(measured - 125_000) / 125_000 < 0.01, `measured ${measured} B/s`);
  });

  it('shares the cap between concurrent consumers, serving them in turn', async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket(1, { clock });
    const finished: number[] = [];
    await Promise.all(
      [0, 1, 2].map(async () => {
        await bucket.take(62_500);
        finished.push(clock.now());
      }),
    );
    // 187,500 B at 125,000 B/s: 1.5 s in all, and nobody done long before the others.
    const last = Math.max(...finished);
    assert.ok(Math.abs(last - 1500) <= 5, `last done at ${last} ms`);
    assert.ok(Math.min(...finished) >= 1500 - 2 * 100 - 5, `first done at ${Math.min(...finished)} ms`);
  });

  it('applies a new rate at once, to consumers already waiting, and lifts the cap when set to none', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    const job = track(bucket.take(200_000));
    await settle();
    await run(clock, 500);
    const atOldRate = bucket.granted;
    assert.ok(atOldRate >= 62_500 - 6_250 && atOldRate <= 62_500, `granted ${atOldRate} in 500 ms at 1 Mbps`);

    bucket.setRateMbps(4); // 500,000 B/s, bucket 50,000 B
    assert.equal(bucket.capacityBytes, 50_000);
    await settle();
    const afterChange = bucket.granted;
    await run(clock, 200);
    const atNewRate = bucket.granted - afterChange;
    assert.ok(atNewRate >= 100_000 - 25_000 && atNewRate <= 100_000 + 12_500, `granted ${atNewRate} in 200 ms at 4 Mbps`);

    bucket.setRateMbps(null);
    await settle();
    assert.equal(job.done, true);
    assert.equal(bucket.granted, 200_000);
    await bucket.take(10_000_000); // unlimited: at once
    assert.equal(clock.pendingSleepers, 0);
  });

  it('lets a waiting consumer leave with its abort signal, without holding up the others', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    const controller = new AbortController();
    const leaving = track(bucket.take(1_000_000, controller.signal));
    const staying = track(bucket.take(12_500));
    await settle();
    assert.equal(bucket.waiting, 2);
    controller.abort();
    await settle();
    assert.equal(leaving.error?.name, 'AbortError');
    assert.equal(bucket.waiting, 1);
    clock.advance(100);
    await settle();
    assert.equal(staying.done, true);
    await assert.rejects(bucket.take(1, AbortSignal.abort()), { name: 'AbortError' });
  });

  it('refuses nonsense', async () => {
    assert.throws(() => new TokenBucket(0), RangeError);
    assert.throws(() => new TokenBucket(-1), RangeError);
    assert.throws(() => new TokenBucket(Number.NaN), RangeError);
    assert.throws(() => new TokenBucket(1, { capacitySeconds: 0 }), RangeError);
    const bucket = new TokenBucket(1, { clock: new ManualClock(0, false) });
    assert.throws(() => bucket.setRateMbps(0), RangeError);
    await assert.rejects(bucket.take(-5), RangeError);
    await assert.rejects(bucket.take(Number.POSITIVE_INFINITY), RangeError);
  });
});

describe('throttle()', () => {
  it('passes every byte through unchanged, at the bucket\'s pace', async () => {
    const clock = new ManualClock(0);
    const bucket = new TokenBucket(1, { clock });
    const data = Buffer.alloc(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 251;
    const hash = createHash('sha256');
    let size = 0;
    await pipeline(
      Readable.from([data.subarray(0, 300_000), data.subarray(300_000)]),
      throttle(bucket),
      new Writable({
        write(chunk: Buffer, _e, cb) {
          hash.update(chunk);
          size += chunk.length;
          cb();
        },
      }),
    );
    assert.equal(size, data.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(data).digest('hex'));
    assert.equal(bucket.granted, data.length);
    // 1,000,000 B at 125,000 B/s = 8 s of (fake) time, give or take one bucket.
    assert.ok(Math.abs(clock.now() - 8000) <= 100, `took ${clock.now()} ms`);
  });

  it('stops when its signal aborts (an upload paused)', async () => {
    const clock = new ManualClock(0, false);
    const bucket = new TokenBucket(1, { clock });
    const controller = new AbortController();
    const flow = pipeline(
      Readable.from([Buffer.alloc(500_000)]),
      throttle(bucket, { signal: controller.signal }),
      new Writable({ write: (_c, _e, cb) => cb() }),
    );
    await settle();
    controller.abort();
    await assert.rejects(flow, { name: 'AbortError' });
    assert.equal(bucket.waiting, 0);
  });
});
