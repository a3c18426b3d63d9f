// The role's side of control protocol v1 (docs/control-protocol.md): one
// long-lived connection per console, requests answered by id (several may be
// in flight), and subscriptions that start from a consistent snapshot and then
// get every numbered event after it. The role is never slowed by a client: a
// client that does not read has its events queued in memory up to a limit,
// then it is disconnected (it may resubscribe).
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Coalescer, realTimers, type CoalesceKey, type Timers } from './coalescing';
import { ControlError, toWireError } from './errors';
import { LineReader } from './framing';
import {
  MAX_REQUEST_LINE_BYTES,
  PROTOCOL_VERSION,
  parseClientMessage,
  protocolMismatchMessage,
  type ByeMessage,
  type ClientMessage,
  type ReplyMessage,
  type RequestId,
  type RoleInfo,
  type WelcomeMessage,
  type WireError,
} from './protocol';

/** Who is on the other end of a connection (from its hello). */
export interface ClientInfo {
  /** Unique within this role process. */
  connectionId: number;
  /** The hello's `client` ('cli', 'vscode'…). */
  name: string;
  protocol: number;
}

export interface ControlBackend {
  /** Runs one command; throws to refuse (its error goes back as a WireError). */
  execute(command: string, args: unknown, session: string | undefined, client: ClientInfo): Promise<unknown>;
  /** The state a subscriber starts from; may throw (e.g. no valid session) to refuse the subscription. */
  snapshot(session: string | undefined): Promise<unknown>;
  /** Every role event, synchronously, in order. */
  onEvent(listener: (event: unknown) => void): { dispose(): void };
  /**
   * Optional: the coalescing key of an event (e.g. 'upload:<jobId>'), or undefined for an
   * event that is never coalesced. `coalesce: true`: at most one such event per key and
   * interval goes out (the latest); `coalesce: false`: this event supersedes a held one of
   * its key, which is dropped. See roleEventCoalescing.
   */
  coalesceKey?(event: unknown): CoalesceKey;
}

export interface ControlServerOptions {
  /** Told to every client in the welcome. */
  role?: RoleInfo;
  /** Longest request line (default 1 MiB). */
  maxRequestLineBytes?: number;
  /** Event bytes queued for one client that does not read before it is disconnected (default 16 MiB). */
  maxQueuedBytes?: number;
  /** Events queued for one client before it is disconnected (default 50,000). */
  maxQueuedEvents?: number;
  /** A client with events queued that reads nothing for this long is disconnected (default 30 s). */
  maxStallMs?: number;
  /** Coalescing interval per key (default 250 ms: at most 4 progress events a second per upload). */
  coalesceIntervalMs?: number;
  /** Snapshots taken for one subscribe before it fails with SnapshotUnstable (default 20). */
  maxSnapshotAttempts?: number;
  /** Time a connection has to send its hello (default 10 s). */
  handshakeTimeoutMs?: number;
  /** After a bye, time the client has to close before the role destroys the connection (default 1 s). */
  closeGraceMs?: number;
  /** Timers of the coalescing (tests inject fake ones). */
  timers?: Timers;
  /** One line per notable thing (connections, disconnections of slow consumers). */
  log?: (message: string) => void;
}

export const DEFAULT_CONTROL_LIMITS = {
  maxRequestLineBytes: MAX_REQUEST_LINE_BYTES,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxQueuedEvents: 50_000,
  maxStallMs: 30_000,
  coalesceIntervalMs: 250,
  maxSnapshotAttempts: 20,
  handshakeTimeoutMs: 10_000,
  closeGraceMs: 1000,
} as const;

export interface ControlServerStats {
  /** Open connections (greeted or not). */
  connections: number;
  subscribers: number;
  /** The sequence number of the last event sent out (0: none yet). */
  seq: number;
  slowConsumerDisconnects: number;
  /** Events held back by coalescing and replaced by a newer one. */
  coalescedEvents: number;
  /** Events that could not be encoded as JSON (dropped before numbering). */
  unencodableEvents: number;
}

export interface ControlServer {
  readonly path: string;
  /** The sequence number of the last event sent out. */
  readonly seq: number;
  stats(): ControlServerStats;
  /** Says bye (code Shutdown) to every client and stops listening. */
  close(): Promise<void>;
}

type Limits = { -readonly [K in keyof typeof DEFAULT_CONTROL_LIMITS]: number };

interface Queued {
  line: string;
  bytes: number;
  /** Counts against the event limits (replies, such as a big snapshot, do not). */
  event: boolean;
}

/**
 * Listens on `socketPath`. A stale socket left by a killed role is replaced (the
 * caller holds the site lock); the socket is made owner-only (0600) and its folder
 * must not be writable by others.
 */
export async function serveControl(socketPath: string, backend: ControlBackend, options: ControlServerOptions = {}): Promise<ControlServer> {
  const limits: Limits = { ...DEFAULT_CONTROL_LIMITS };
  for (const key of Object.keys(limits) as (keyof Limits)[]) {
    const v = options[key];
    if (v !== undefined) {
      if (!(typeof v === 'number' && v > 0)) throw new RangeError(`${key} must be a positive number, found ${String(v)}`);
      limits[key] = v;
    }
  }
  const posix = process.platform !== 'win32';
  if (posix) await prepareSocketPath(socketPath);
  const hub = new Hub(backend, limits, options);
  const server = net.createServer((socket) => hub.accept(socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  try {
    if (posix) await fs.chmod(socketPath, 0o600);
  } catch (error) {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
  hub.start();
  let closing: Promise<void> | undefined;
  return {
    path: socketPath,
    get seq() {
      return hub.seq;
    },
    stats: () => hub.stats(),
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        hub.shutdown();
      })),
  };
}

/** The folder of the socket must be ours and not writable by others; a fallback folder in tmpdir is made 0700. */
async function prepareSocketPath(socketPath: string): Promise<void> {
  const dir = path.dirname(socketPath);
  const inTmp = path.dirname(dir) === path.resolve(os.tmpdir()) && path.basename(dir).startsWith('clearance-role-');
  if (inTmp) {
    await fs.mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  const st = inTmp ? await fs.lstat(dir) : await fs.stat(dir);
  const uid = process.getuid?.();
  const bad = !st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & (inTmp ? 0o077 : 0o022)) !== 0;
  if (bad) {
    throw new ControlError(
      'ControlSocketUnsafe',
      `The folder of the control socket ${dir} must be a folder of this user that no one else may write to` +
        `${inTmp ? ' or read' : ''} (found mode ${(st.mode & 0o777).toString(8)}${uid !== undefined && st.uid !== uid ? `, owner uid ${st.uid}` : ''}).`,
    );
  }
  const existing = await fs.lstat(socketPath).catch(() => undefined);
  if (existing) {
    if (!existing.isSocket()) throw new ControlError('ControlSocketUnsafe', `${socketPath} exists and is not a socket: the role does not replace it.`);
    await fs.rm(socketPath, { force: true });
  }
}

/** Every connection, the event numbering and the subscribers. */
class Hub {
  seq = 0;
  private readonly connections = new Set<Connection>();
  readonly subscribers = new Set<Connection>();
  private readonly coalescer: Coalescer<unknown>;
  private subscription?: { dispose(): void };
  private nextConnectionId = 1;
  slowConsumerDisconnects = 0;
  private unencodableEvents = 0;
  stopping = false;

  constructor(
    readonly backend: ControlBackend,
    readonly limits: Limits,
    readonly options: ControlServerOptions,
  ) {
    const keyOf = backend.coalesceKey ? (event: unknown) => backend.coalesceKey!(event) : undefined;
    this.coalescer = new Coalescer<unknown>(keyOf, (event) => this.number(event), limits.coalesceIntervalMs, options.timers ?? realTimers);
  }

  start(): void {
    this.subscription = this.backend.onEvent((event) => {
      if (!this.stopping) this.coalescer.push(event);
    });
  }

  accept(socket: net.Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    const connection = new Connection(this, this.nextConnectionId++, socket);
    this.connections.add(connection);
    socket.on('close', () => {
      this.connections.delete(connection);
      this.subscribers.delete(connection);
    });
  }

  log(message: string): void {
    try {
      this.options.log?.(message);
    } catch {
      // A faulty logger must not break the protocol.
    }
  }

  /** Numbers one event (after coalescing) and sends it to every subscriber. Never blocks. */
  private number(event: unknown): void {
    let json: string | undefined;
    try {
      json = JSON.stringify(event);
    } catch {
      json = undefined;
    }
    if (json === undefined) {
      this.unencodableEvents++;
      return;
    }
    const seq = ++this.seq;
    if (this.subscribers.size === 0) return;
    const line = `{"type":"event","seq":${seq},"event":${json}}\n`;
    const bytes = Buffer.byteLength(line);
    for (const connection of this.subscribers) connection.sendEvent(line, bytes);
  }

  shutdown(): void {
    this.stopping = true;
    this.subscription?.dispose();
    this.coalescer.dispose();
    for (const connection of this.connections) connection.bye('Shutdown', 'The role is stopping.');
  }

  stats(): ControlServerStats {
    return {
      connections: this.connections.size,
      subscribers: this.subscribers.size,
      seq: this.seq,
      slowConsumerDisconnects: this.slowConsumerDisconnects,
      coalescedEvents: this.coalescer.dropped,
      unencodableEvents: this.unencodableEvents,
    };
  }
}

class Connection {
  private state: 'handshake' | 'open' | 'closing' | 'closed' = 'handshake';
  private info?: ClientInfo;
  private subscription: 'none' | 'pending' | 'active' = 'none';
  /** Bumped by unsubscribe: a subscribe whose snapshot comes back after it does not start. */
  private subscriptionGeneration = 0;
  private readonly reader: LineReader;
  // Lines waiting for 'drain' (a queue with a moving head: no O(n) shift).
  private queue: Queued[] = [];
  private head = 0;
  private blocked = false;
  private queuedEventBytes = 0;
  private queuedEvents = 0;
  private stallTimer?: NodeJS.Timeout;
  private handshakeTimer?: NodeJS.Timeout;
  private graceTimer?: NodeJS.Timeout;

  constructor(
    private readonly hub: Hub,
    readonly id: number,
    private readonly socket: net.Socket,
  ) {
    this.reader = new LineReader((line) => this.onLine(line), hub.limits.maxRequestLineBytes, () => this.tooLarge());
    socket.on('data', (chunk: Buffer) => this.reader.push(chunk));
    socket.on('drain', () => this.flush());
    socket.on('error', () => {
      // 'close' follows; EPIPE and ECONNRESET are a client going away.
    });
    socket.on('close', () => this.closed());
    this.handshakeTimer = setTimeout(() => {
      if (this.state === 'handshake') this.bye('HandshakeRequired', `No hello within ${Math.round(hub.limits.handshakeTimeoutMs / 1000)} s.`);
    }, hub.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref?.();
  }

  private get name(): string {
    return this.info ? `${this.info.name}#${this.id}` : `#${this.id}`;
  }

  // -------------------------------------------------------------------------
  // Incoming

  private onLine(line: string): void {
    if (this.state !== 'handshake' && this.state !== 'open') return;
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (this.state === 'handshake') return this.bye('BadRequest', 'The first line is not JSON: expected a hello message.');
      return this.replyError(null, { code: 'BadRequest', name: 'BadRequest', message: 'The line is not valid JSON.' });
    }
    const message = parseClientMessage(value);
    if (this.state === 'handshake') return this.handshake(value, message);
    if (typeof message === 'string') {
      const id = (value as { id?: unknown } | null)?.id;
      return this.replyError(typeof id === 'number' || typeof id === 'string' ? id : null, { code: 'BadRequest', name: 'BadRequest', message: `Bad message: ${message}.` });
    }
    switch (message.type) {
      case 'hello':
        return this.replyError(message.id, { code: 'BadRequest', name: 'BadRequest', message: 'The connection is already greeted: hello comes once, first.' });
      case 'request':
        return this.request(message.id, message.command, message.args, message.session);
      case 'subscribe':
        return void this.subscribe(message.id, message.session);
      case 'unsubscribe':
        return this.unsubscribe(message.id);
    }
  }

  private handshake(value: unknown, message: ClientMessage | string): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    const v = value as Record<string, unknown> | null;
    if (v && typeof v === 'object' && v.type === undefined && typeof v.command === 'string') {
      // A client of the one-command-per-connection protocol (0): tell it in the shape it reads.
      const text = protocolMismatchMessage(PROTOCOL_VERSION, 0);
      this.hub.log(`control: refused a protocol 0 client (${String(v.command)})`);
      return this.end(JSON.stringify({ type: 'bye', code: 'ProtocolMismatch', message: text, ok: false, error: { code: 'ProtocolMismatch', name: 'ProtocolMismatch', message: text } }) + '\n');
    }
    if (typeof message === 'string' || message.type !== 'hello') {
      const found = typeof message === 'string' ? message : `found ${message.type}`;
      return this.bye('HandshakeRequired', `The first message must be hello {"type":"hello","id":…,"protocol":${PROTOCOL_VERSION},"client":…}: ${found}.`);
    }
    if (message.protocol !== PROTOCOL_VERSION) {
      this.hub.log(`control: refused ${message.client} speaking protocol ${message.protocol}`);
      return this.bye('ProtocolMismatch', protocolMismatchMessage(PROTOCOL_VERSION, message.protocol));
    }
    this.info = { connectionId: this.id, name: message.client, protocol: message.protocol };
    this.state = 'open';
    const welcome: WelcomeMessage = {
      type: 'welcome',
      id: message.id,
      protocol: PROTOCOL_VERSION,
      role: this.hub.options.role ?? {},
      limits: { maxRequestLineBytes: this.hub.limits.maxRequestLineBytes },
    };
    this.send(JSON.stringify(welcome) + '\n', false);
  }

  private request(id: RequestId, command: string, args: unknown, session: string | undefined): void {
    const info = this.info!;
    Promise.resolve()
      .then(() => this.hub.backend.execute(command, args, session, info))
      .then(
        (result) => this.replyOk(id, result ?? null),
        (error: unknown) => this.replyError(id, toWireError(error)),
      );
  }

  private async subscribe(id: RequestId, session: string | undefined): Promise<void> {
    if (this.subscription !== 'none') {
      return this.replyError(id, { code: 'AlreadySubscribed', name: 'AlreadySubscribed', message: 'This connection is already subscribed: unsubscribe first.' });
    }
    this.subscription = 'pending';
    const generation = this.subscriptionGeneration;
    const attempts = this.hub.limits.maxSnapshotAttempts;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const before = this.hub.seq;
      let snapshot: unknown;
      try {
        snapshot = await this.hub.backend.snapshot(session);
      } catch (error) {
        if (generation === this.subscriptionGeneration) this.subscription = 'none';
        return this.replyError(id, toWireError(error));
      }
      if (this.state !== 'open') return;
      if (generation !== this.subscriptionGeneration) {
        return this.replyError(id, { code: 'Unsubscribed', name: 'Unsubscribed', message: 'Unsubscribed before the snapshot was ready.' });
      }
      // No event was numbered while the snapshot was taken: it is the state at `before`.
      if (this.hub.seq !== before) continue;
      let line: string;
      try {
        line = JSON.stringify({ type: 'reply', id, ok: true, result: { snapshot: snapshot ?? null, seq: before } }) + '\n';
      } catch (error) {
        this.subscription = 'none';
        return this.replyError(id, { code: 'InternalError', name: 'InternalError', message: `The snapshot could not be encoded: ${(error as Error).message}` });
      }
      // The reply, then (same tick, so nothing can come between) every event after `before`.
      this.send(line, false);
      this.subscription = 'active';
      this.hub.subscribers.add(this);
      return;
    }
    if (generation === this.subscriptionGeneration) this.subscription = 'none';
    this.replyError(id, {
      code: 'SnapshotUnstable',
      name: 'SnapshotUnstable',
      message: `The role's state changed during each of ${attempts} snapshots; subscribe again.`,
    });
  }

  private unsubscribe(id: RequestId): void {
    this.subscriptionGeneration++;
    this.subscription = 'none';
    this.hub.subscribers.delete(this);
    this.replyOk(id, null);
  }

  private tooLarge(): void {
    const max = this.hub.limits.maxRequestLineBytes;
    const message = `A message is longer than ${max} bytes; the role closes the connection.`;
    this.replyError(null, { code: 'RequestTooLarge', name: 'RequestTooLarge', message });
    this.bye('RequestTooLarge', message);
  }

  // -------------------------------------------------------------------------
  // Outgoing

  private replyOk(id: RequestId, result: unknown): void {
    let line: string;
    try {
      line = JSON.stringify({ type: 'reply', id, ok: true, result } satisfies ReplyMessage) + '\n';
    } catch (error) {
      return this.replyError(id, { code: 'InternalError', name: 'InternalError', message: `The result could not be encoded: ${(error as Error).message}` });
    }
    this.send(line, false);
  }

  private replyError(id: RequestId | null, error: WireError): void {
    this.send(JSON.stringify({ type: 'reply', id, ok: false, error } satisfies ReplyMessage) + '\n', false);
  }

  sendEvent(line: string, bytes: number): void {
    if (this.state !== 'open' || this.subscription !== 'active') return;
    if (!this.blocked) {
      if (!this.socket.write(line)) this.blocked = true;
      return;
    }
    this.queue.push({ line, bytes, event: true });
    this.queuedEventBytes += bytes;
    this.queuedEvents++;
    if (this.queuedEventBytes > this.hub.limits.maxQueuedBytes || this.queuedEvents > this.hub.limits.maxQueuedEvents) {
      return this.slowConsumer(`${this.queuedEvents} events (${this.queuedEventBytes} bytes) wait for it`);
    }
    if (!this.stallTimer) this.armStall();
  }

  /** Replies and the welcome: through the same queue, so the order on the wire is the order sent. */
  private send(line: string, event: boolean): void {
    if (this.state !== 'open' && this.state !== 'handshake') return;
    if (!this.blocked) {
      if (!this.socket.write(line)) this.blocked = true;
      return;
    }
    this.queue.push({ line, bytes: 0, event });
  }

  private flush(): void {
    this.blocked = false;
    if (this.state !== 'open') return;
    while (this.head < this.queue.length) {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Queued;
      if (item.event) {
        this.queuedEventBytes -= item.bytes;
        this.queuedEvents--;
      }
      if (!this.socket.write(item.line)) {
        this.blocked = true;
        break;
      }
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    // The client read something: its stall clock starts again (or stops, with nothing queued).
    if (this.stallTimer) clearTimeout(this.stallTimer);
    this.stallTimer = undefined;
    if (this.queuedEvents > 0) this.armStall();
  }

  private armStall(): void {
    const ms = this.hub.limits.maxStallMs;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.state === 'open' && this.queuedEvents > 0) this.slowConsumer(`it read nothing for ${Math.round(ms / 1000)} s`);
    }, ms);
    this.stallTimer.unref?.();
  }

  private slowConsumer(why: string): void {
    this.hub.slowConsumerDisconnects++;
    this.hub.log(`control: disconnected ${this.name}, a slow consumer: ${why}`);
    this.dropQueue();
    this.bye('SlowConsumer', `The console did not keep up with the role's events (${why}); subscribe again.`);
  }

  private dropQueue(): void {
    this.queue = [];
    this.head = 0;
    this.queuedEventBytes = 0;
    this.queuedEvents = 0;
  }

  /** The last message: what is still queued goes first (unless dropped), then the bye, then the end. */
  bye(code: string, message: string): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    const lines = this.queue.slice(this.head).map((q) => q.line);
    this.dropQueue();
    lines.push(JSON.stringify({ type: 'bye', code, message } satisfies ByeMessage) + '\n');
    this.end(lines.join(''));
  }

  private end(last: string): void {
    this.state = 'closing';
    this.reader.stop();
    this.hub.subscribers.delete(this);
    if (this.stallTimer) clearTimeout(this.stallTimer);
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    // A client that does not read never gets it: it is destroyed after the grace time.
    this.socket.end(last);
    this.graceTimer = setTimeout(() => this.socket.destroy(), this.hub.limits.closeGraceMs);
    this.graceTimer.unref?.();
  }

  private closed(): void {
    this.state = 'closed';
    this.dropQueue();
    for (const t of [this.stallTimer, this.handshakeTimer, this.graceTimer]) if (t) clearTimeout(t);
  }
}
