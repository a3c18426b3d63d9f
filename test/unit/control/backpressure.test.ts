// A client that cannot keep up is disconnected and never slows the role; a
// healthy client gets a large snapshot (a 10,000-camera site) and stays.
import assert from 'node:assert/strict';
import { ControlClient, serveControl, type CloseInfo, type ControlServer } from '../../../src/core/control';
import { FakeRole, RawClient, tempSocket, waitFor } from './helpers';

describe('control protocol: slow consumers', function () {
  let tmp: Awaited<ReturnType<typeof tempSocket>>;
  let role: FakeRole;
  let server: ControlServer | undefined;
  const clients: ControlClient[] = [];
  const raws: RawClient[] = [];
  let stopEmitter: (() => Promise<number>) | undefined;

  beforeEach(async () => {
    tmp = await tempSocket();
    role = new FakeRole();
  });

  afterEach(async () => {
    await stopEmitter?.();
    stopEmitter = undefined;
    for (const r of raws.splice(0)) r.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    server = undefined;
    await tmp.cleanup();
  });

  /** An upload-progress-sized event (a job snapshot is about 1 KB) every millisecond, from a timer, like the role. */
  const startEmitter = (): { fired: () => number } => {
    let fired = 0;
    const payload = 'x'.repeat(900);
    const timer = setInterval(() => {
      for (let i = 0; i < 4; i++) role.fire({ kind: 'blob', text: `${++fired} ${payload}` });
    }, 1);
    stopEmitter = async () => {
      clearInterval(timer);
      return fired;
    };
    return { fired: () => fired };
  };

  /** Subscribes with a raw socket, then stops reading. */
  const stalledSubscriber = async (): Promise<{ raw: RawClient; from: number }> => {
    const raw = new RawClient(tmp.socketPath);
    raws.push(raw);
    raw.send({ type: 'hello', id: 1, protocol: 1, client: 'stalled' });
    await raw.next((m) => m.type === 'welcome');
    raw.send({ type: 'subscribe', id: 2 });
    const reply = await raw.next((m) => m.id === 2);
    raw.socket.pause();
    return { raw, from: (reply.result as { seq: number }).seq };
  };

  const healthySubscriber = async (): Promise<{ client: ControlClient; seqs: number[]; closes: CloseInfo[] }> => {
    const client = await ControlClient.connect(tmp.socketPath, { client: 'healthy' });
    clients.push(client);
    const seqs: number[] = [];
    const closes: CloseInfo[] = [];
    client.onClose((i) => closes.push(i));
    const r = await client.subscribe(undefined, (_e, seq) => seqs.push(seq));
    seqs.push(r.seq);
    return { client, seqs, closes };
  };

  const assertConsecutive = (seqs: number[]) => {
    for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1]! + 1) assert.fail(`gap: ${seqs[i - 1]} then ${seqs[i]}`);
  };

  it('disconnects a client that stops reading once its queue passes the limit; the role and a healthy client go on', async () => {
    const logs: string[] = [];
    server = await serveControl(tmp.socketPath, role.backend(), { maxQueuedBytes: 256 * 1024, closeGraceMs: 10_000, log: (m) => logs.push(m) });
    const healthy = await healthySubscriber();
    const stalled = await stalledSubscriber();
    const emitter = startEmitter();
    await waitFor(() => server!.stats().slowConsumerDisconnects === 1, 'the slow consumer to be cut off');
    const firedAtCut = emitter.fired();
    // The role kept firing after the cut (its loop was never blocked by the stalled client).
    await waitFor(() => emitter.fired() > firedAtCut + 400, 'more events');
    const fired = await stopEmitter!();
    stopEmitter = undefined;
    assert.equal(server.seq, fired, 'every event fired was numbered');
    await waitFor(() => healthy.seqs.at(-1) === server!.seq, 'the healthy client to catch up');
    assertConsecutive(healthy.seqs);
    assert.deepEqual(healthy.closes, []);
    assert.equal(server.stats().subscribers, 1);
    assert.match(logs.join('\n'), /disconnected stalled#\d+, a slow consumer/);

    // Reading again, the stalled client finds what was sent before the cut, in order, then the bye.
    stalled.raw.socket.resume();
    await waitFor(() => stalled.raw.closed, 'the stalled client to see the end');
    const events = stalled.raw.messages.filter((m) => m.type === 'event').map((m) => m.seq as number);
    assert.equal(events[0], stalled.from + 1);
    assertConsecutive(events);
    assert.ok(events.length < fired, 'it did not get everything');
    const last = stalled.raw.messages.at(-1)!;
    assert.equal(last.type, 'bye');
    assert.equal(last.code, 'SlowConsumer');
    assert.match(last.message as string, /did not keep up.*subscribe again/);
  });

  it('disconnects a client that reads nothing for maxStallMs while events wait for it', async () => {
    server = await serveControl(tmp.socketPath, role.backend(), { maxStallMs: 300 });
    const healthy = await healthySubscriber();
    await stalledSubscriber();
    startEmitter();
    await waitFor(() => server!.stats().slowConsumerDisconnects === 1, 'the stall limit');
    await stopEmitter!();
    stopEmitter = undefined;
    await waitFor(() => healthy.seqs.at(-1) === server!.seq, 'the healthy client to catch up');
    assertConsecutive(healthy.seqs);
    assert.deepEqual(healthy.closes, []);
  });

  it('a stalled client may resubscribe and gets a fresh snapshot', async () => {
    server = await serveControl(tmp.socketPath, role.backend(), { maxQueuedBytes: 128 * 1024, closeGraceMs: 50 });
    await stalledSubscriber();
    startEmitter();
    await waitFor(() => server!.stats().slowConsumerDisconnects === 1, 'the cut');
    await stopEmitter!();
    stopEmitter = undefined;
    const again = await healthySubscriber();
    assert.equal(again.seqs[0], server.seq);
    assert.equal(server.stats().subscribers, 1);
  });

  for (const limits of ['default', 'small'] as const) {
    it(`a healthy client gets the snapshot of a 10,000-camera site and stays (${limits} limits), with events flowing`, async () => {
      const cameras = Array.from({ length: 10_000 }, (_, i) => ({
        id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        name: `Camera ${i} — Parking level ${i % 7}, north entrance`,
        area: `area-${i % 50}`,
        published: i % 3 === 0,
        description: 'Fixed dome, 4 MP, 30 days of recordings, motion events enabled, privacy masks set.'.repeat(3),
      }));
      const backend = role.backend();
      backend.snapshot = async () => ({ cameras });
      server = await serveControl(
        tmp.socketPath,
        backend,
        limits === 'small' ? { maxQueuedBytes: 64 * 1024, maxQueuedEvents: 100 } : {},
      );
      const size = Buffer.byteLength(JSON.stringify({ cameras }));
      assert.ok(size > 3_000_000, `${size} bytes`);
      const client = await ControlClient.connect(tmp.socketPath, { client: 'vscode' });
      clients.push(client);
      const closes: CloseInfo[] = [];
      client.onClose((i) => closes.push(i));
      const seqs: number[] = [];
      const subscribed = client.subscribe<{ cameras: unknown[] }>(undefined, (_e, seq) => seqs.push(seq));
      // A few events while the snapshot is on its way.
      const fire = setInterval(() => role.fire({ kind: 'blob', text: 'x'.repeat(200) }), 2);
      const r = await subscribed;
      await new Promise((res) => setTimeout(res, 50));
      clearInterval(fire);
      assert.equal(r.snapshot.cameras.length, 10_000);
      await waitFor(() => (seqs.at(-1) ?? r.seq) === server!.seq, 'the events after the snapshot');
      assertConsecutive([r.seq, ...seqs]);
      assert.deepEqual(closes, []);
      assert.equal(server.stats().slowConsumerDisconnects, 0);
    });
  }
});
