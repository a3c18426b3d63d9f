// subscribe: a consistent snapshot plus a sequence number, then every event
// after it: no event missed or doubled between snapshot and stream.
import assert from 'node:assert/strict';
import net from 'node:net';
import { ControlClient, roleEventCoalescing, serveControl, type CloseInfo, type ControlServer } from '../../../src/core/control';
import { FakeRole, FakeTimers, applyEvent, random, tempSocket, waitFor, type FakeEvent, type FakeState } from './helpers';

describe('control protocol: subscribe', function () {
  let tmp: Awaited<ReturnType<typeof tempSocket>>;
  let role: FakeRole;
  let server: ControlServer | undefined;
  const clients: ControlClient[] = [];

  const connect = async (name = 'test') => {
    const c = await ControlClient.connect(tmp.socketPath, { client: name, timeoutMs: 10_000 });
    clients.push(c);
    return c;
  };

  beforeEach(async () => {
    tmp = await tempSocket();
    role = new FakeRole();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    server = undefined;
    await tmp.cleanup();
  });

  /** A console: its state is the snapshot plus every event after it. */
  class Mirror {
    state!: FakeState;
    seq = 0;
    events = 0;
    constructor(readonly client: ControlClient) {}
    async subscribe(session?: string): Promise<void> {
      const r = await this.client.subscribe<FakeState, FakeEvent>(session, (event, seq) => {
        applyEvent(this.state, event);
        this.seq = seq;
        this.events++;
      });
      // Taken after the await on purpose: events read meanwhile wait for the snapshot.
      this.state = structuredClone(r.snapshot);
      this.seq = r.seq;
    }
  }

  it('answers the snapshot and its seq, then streams every event after it', async () => {
    server = await serveControl(tmp.socketPath, role.backend());
    role.fire({ kind: 'add', key: 'a', n: 1 });
    role.fire({ kind: 'add', key: 'b', n: 2 });
    const c = await connect();
    const got: [unknown, number][] = [];
    const r = await c.subscribe(undefined, (e, seq) => got.push([e, seq]));
    assert.deepEqual(r, { snapshot: { items: { a: 1, b: 2 }, total: 3 }, seq: 2 });
    role.fire({ kind: 'add', key: 'a', n: 5 });
    await waitFor(() => got.length === 1, 'the event');
    assert.deepEqual(got, [[{ kind: 'add', key: 'a', n: 5 }, 3]]);
    assert.equal(server.seq, 3);
  });

  it('never misses or doubles an event, with events racing slow snapshots (several clients, resubscribing)', async () => {
    const rnd = random(42);
    role.snapshotPause = () =>
      new Promise((resolve) => {
        const r = rnd();
        if (r < 0.3) setImmediate(resolve);
        else setTimeout(resolve, Math.floor(r * 4));
      });
    server = await serveControl(tmp.socketPath, role.backend(), { maxSnapshotAttempts: 10_000 });
    let firing = true;
    let fired = 0;
    const driver = (async () => {
      while (firing) {
        const burst = Math.floor(rnd() * 4);
        for (let i = 0; i < burst; i++) {
          role.fire({ kind: 'add', key: `k${Math.floor(rnd() * 20)}`, n: 1 + Math.floor(rnd() * 9) });
          fired++;
        }
        await new Promise((r) => (rnd() < 0.5 ? setImmediate(r) : setTimeout(r, Math.floor(rnd() * 3))));
      }
    })();
    const mirrors = await Promise.all([1, 2, 3, 4].map(async (i) => new Mirror(await connect(`c${i}`))));
    for (let round = 0; round < 5; round++) {
      await Promise.all(
        mirrors.map(async (m, i) => {
          if (round > 0 && (round + i) % 2 === 0) {
            await m.client.unsubscribe();
            await m.subscribe();
          } else if (round === 0) {
            await new Promise((r) => setTimeout(r, i * 3));
            await m.subscribe();
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 10));
    }
    firing = false;
    await driver;
    await waitFor(() => mirrors.every((m) => m.seq === server!.seq), 'every client to catch up');
    assert.ok(fired > 50, `${fired} events fired`);
    assert.ok(role.snapshots > mirrors.length, 'snapshots were taken again after a race');
    for (const m of mirrors) assert.deepEqual(m.state, role.state);
    assert.ok(mirrors.every((m) => !m.client.closed));
  });

  it('fails with SnapshotUnstable when the state changes during every snapshot', async () => {
    let n = 0;
    role.onSnapshot = () => role.fire({ kind: 'add', key: 'x', n: ++n });
    server = await serveControl(tmp.socketPath, role.backend(), { maxSnapshotAttempts: 5 });
    const c = await connect();
    await assert.rejects(c.subscribe(undefined, () => {}), { code: 'SnapshotUnstable' });
    assert.equal(role.snapshots, 5);
    // It may subscribe again.
    role.onSnapshot = () => {};
    const r = await c.subscribe(undefined, () => {});
    assert.equal(r.seq, 5);
  });

  it('passes the session to the snapshot, which may refuse it', async () => {
    const sessions: (string | undefined)[] = [];
    role.onSnapshot = (session) => {
      sessions.push(session);
      if (session !== 'admin') throw Object.assign(new Error('User "guest" lacks a privilege.'), { name: 'PrivilegeDenied' });
    };
    server = await serveControl(tmp.socketPath, role.backend());
    const c = await connect();
    await assert.rejects(c.subscribe('guest', () => {}), { code: 'PrivilegeDenied', message: 'User "guest" lacks a privilege.' });
    await c.subscribe('admin', () => {});
    assert.deepEqual(sessions, ['guest', 'admin']);
  });

  it('one subscription per connection; unsubscribe stops the stream', async () => {
    server = await serveControl(tmp.socketPath, role.backend());
    const c = await connect();
    const got: number[] = [];
    await c.subscribe(undefined, (_e, seq) => got.push(seq));
    await assert.rejects(c.subscribe(undefined, () => {}), { code: 'AlreadySubscribed' });
    role.fire({ kind: 'add', key: 'a', n: 1 });
    await waitFor(() => got.length === 1, 'the event');
    await c.unsubscribe();
    assert.equal(server.stats().subscribers, 0);
    role.fire({ kind: 'add', key: 'a', n: 1 });
    const again: number[] = [];
    const r = await c.subscribe(undefined, (_e, seq) => again.push(seq));
    assert.equal(r.seq, 2);
    role.fire({ kind: 'add', key: 'a', n: 1 });
    await waitFor(() => again.length === 1, 'the event');
    assert.deepEqual([got, again], [[1], [3]]);
  });

  it('coalesces upload progress before numbering: every client sees the same stream, no stale progress after finished', async () => {
    const timers = new FakeTimers();
    role.coalesceKey = roleEventCoalescing;
    server = await serveControl(tmp.socketPath, role.backend(), { timers });
    const progress = (sent: number) => ({ kind: 'upload', event: { kind: 'progress', job: { id: 'j1', sentBytes: sent } } });
    const [a, b] = [await connect('a'), await connect('b')];
    const seen: [unknown[], unknown[]] = [[], []];
    await a.subscribe(undefined, (e, seq) => seen[0].push([seq, e]));
    await b.subscribe(undefined, (e, seq) => seen[1].push([seq, e]));
    for (let i = 1; i <= 5; i++) role.fire(progress(i));
    timers.advance(250);
    role.fire(progress(6));
    role.fire(progress(7));
    role.fire({ kind: 'upload', event: { kind: 'finished', job: { id: 'j1', state: 'completed' } } });
    timers.advance(1000);
    role.fire({ kind: 'status', status: 'running' });
    await waitFor(() => seen[0].length === 4 && seen[1].length === 4, 'the events');
    const expected = [
      [1, progress(1)],
      [2, progress(5)],
      [3, { kind: 'upload', event: { kind: 'finished', job: { id: 'j1', state: 'completed' } } }],
      [4, { kind: 'status', status: 'running' }],
    ];
    assert.deepEqual(seen, [expected, expected]);
    assert.equal(server.stats().coalescedEvents, 5);
  });

  it('the client closes the connection on a gap in the sequence (a broken role)', async () => {
    const fake = net.createServer((s) => {
      let buffer = '';
      s.on('data', (chunk) => {
        buffer += chunk.toString();
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const m = JSON.parse(buffer.slice(0, nl)) as { type: string; id: number };
          buffer = buffer.slice(nl + 1);
          if (m.type === 'hello') s.write(`${JSON.stringify({ type: 'welcome', id: m.id, protocol: 1, role: {}, limits: { maxRequestLineBytes: 1000 } })}\n`);
          if (m.type === 'subscribe') {
            s.write(`${JSON.stringify({ type: 'reply', id: m.id, ok: true, result: { snapshot: {}, seq: 10 } })}\n`);
            s.write(`${JSON.stringify({ type: 'event', seq: 11, event: 'a' })}\n${JSON.stringify({ type: 'event', seq: 13, event: 'c' })}\n`);
          }
        }
      });
      s.on('error', () => {});
    });
    const fakePath = `${tmp.dir}/fake.sock`;
    await new Promise<void>((r) => fake.listen(fakePath, r));
    try {
      const c = await ControlClient.connect(fakePath, { client: 'cli' });
      clients.push(c);
      const closed: CloseInfo[] = [];
      c.onClose((i) => closed.push(i));
      const got: unknown[] = [];
      await c.subscribe(undefined, (e) => got.push(e));
      await waitFor(() => closed.length === 1, 'the close');
      assert.equal(closed[0]!.code, 'SequenceGap');
      assert.match(closed[0]!.message, /Event 13 came where 12 was due/);
      assert.ok(!got.includes('c'), 'nothing after the gap');
    } finally {
      await new Promise<void>((r) => fake.close(() => r()));
    }
  });
});
