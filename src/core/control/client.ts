// A console's side of control protocol v1 (docs/control-protocol.md): one
// connection to the role, the handshake, requests matched by id, and one
// subscription whose events are checked to follow each other without a gap.
import net from 'node:net';
import { ControlError, fromWireError } from './errors';
import { LineReader } from './framing';
import {
  MAX_REQUEST_LINE_BYTES,
  PROTOCOL_VERSION,
  protocolMismatchMessage,
  type ClientMessage,
  type RoleInfo,
  type ServerMessage,
  type SubscribeResult,
} from './protocol';

export interface ConnectOptions {
  /** Who connects: 'cli', 'vscode', or any short name (the role logs it). */
  client: string;
  /** Time limit of connecting and the handshake (default: none). */
  timeoutMs?: number;
}

export interface RequestOptions {
  /** Time limit of this request (default: none); a late reply is ignored. */
  timeoutMs?: number;
}

/** Why a connection ended: the role's bye, or what the client saw. */
export interface CloseInfo {
  /** The bye's code (Shutdown, SlowConsumer, ProtocolMismatch…), or ConnectionClosed, SequenceGap, BadMessage. */
  code: string;
  message: string;
  /** True when the role said bye (it chose to end the connection). */
  bye: boolean;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
  /** Runs when the reply is read, before any later line (the subscribe reply starts the stream). */
  onOk?(result: unknown): void;
}

interface Subscription {
  onEvent(event: unknown, seq: number): void;
  /** The seq the next event must carry. */
  expected: number;
  /** Events read before the caller had the snapshot (delivered right after). */
  held?: { event: unknown; seq: number }[];
}

type Listener = (info: CloseInfo) => void;

export class ControlClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private subscription?: Subscription;
  private subscribing = false;
  private closeInfo?: CloseInfo;
  private byeInfo?: { code: string; message: string };
  private readonly closeListeners = new Set<Listener>();
  private ended = false;
  private readonly whenClosed: Promise<void>;
  private welcomed?: { resolve(): void; reject(error: Error): void };
  /** From the welcome. */
  role: RoleInfo = {};
  maxRequestLineBytes = MAX_REQUEST_LINE_BYTES;

  private constructor(
    readonly socketPath: string,
    private readonly socket: net.Socket,
  ) {
    const reader = new LineReader((line) => this.onLine(line));
    socket.on('data', (chunk: Buffer) => reader.push(chunk));
    socket.on('error', () => {
      // 'close' follows.
    });
    this.whenClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.once('close', () => this.onSocketClose());
  }

  /** Connects and says hello. Nothing listening → ControlError RoleNotRunning naming the socket. */
  static connect(socketPath: string, options: ConnectOptions): Promise<ControlClient> {
    return new Promise<ControlClient>((resolve, reject) => {
      const socket = net.connect(socketPath);
      let timer: NodeJS.Timeout | undefined;
      let client: ControlClient | undefined;
      const fail = (error: Error): void => {
        if (timer) clearTimeout(timer);
        socket.destroy();
        reject(error);
      };
      if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
        const ms = options.timeoutMs;
        timer = setTimeout(() => fail(new ControlError('Timeout', `The role at ${socketPath} did not answer within ${seconds(ms)}.`)), ms);
      }
      const onConnectError = (error: NodeJS.ErrnoException): void => fail(connectError(socketPath, error));
      socket.once('error', onConnectError);
      socket.once('connect', () => {
        socket.off('error', onConnectError);
        client = new ControlClient(socketPath, socket);
        client.hello(options.client).then(
          () => {
            if (timer) clearTimeout(timer);
            resolve(client!);
          },
          (error: Error) => fail(error),
        );
      });
    });
  }

  /** True once the connection is gone. */
  get closed(): boolean {
    return this.closeInfo !== undefined;
  }

  /** Runs one command; a refusal rejects with ControlError (its `code`, and `issues` for a form). */
  request<T = unknown>(command: string, args?: unknown, session?: string, options?: RequestOptions): Promise<T> {
    return this.call<T>({ type: 'request', id: 0, command, ...(args !== undefined ? { args } : {}), ...(session !== undefined ? { session } : {}) }, options);
  }

  /**
   * Subscribes: answers the role's state and the seq it includes; `onEvent` then gets every
   * event after it, in order, first right after this promise resolved (so the caller
   * applies the snapshot first). One subscription per connection.
   */
  subscribe<S = unknown, E = unknown>(session: string | undefined, onEvent: (event: E, seq: number) => void): Promise<SubscribeResult<S>> {
    if (this.subscription || this.subscribing) return Promise.reject(new ControlError('AlreadySubscribed', 'This connection is already subscribed: unsubscribe first.'));
    this.subscribing = true;
    const done = () => {
      this.subscribing = false;
    };
    const promise = this.call<SubscribeResult<S>>(
      { type: 'subscribe', id: 0, ...(session !== undefined ? { session } : {}) },
      undefined,
      (result) => {
        const r = result as SubscribeResult<S>;
        if (!r || typeof r.seq !== 'number') return;
        const subscription: Subscription = { onEvent: onEvent as Subscription['onEvent'], expected: r.seq + 1, held: [] };
        this.subscription = subscription;
        setImmediate(() => {
          const held = subscription.held ?? [];
          subscription.held = undefined;
          for (const h of held) if (this.subscription === subscription) this.deliver(subscription, h.event, h.seq);
        });
      },
    );
    promise.then(done, done);
    return promise;
  }

  /** Ends the subscription; events still on their way are ignored. */
  async unsubscribe(): Promise<void> {
    this.subscription = undefined;
    await this.call({ type: 'unsubscribe', id: 0 });
  }

  /** Called once when the connection ends (at once if it has). */
  onClose(listener: Listener): { dispose(): void } {
    if (this.closeInfo) {
      const info = this.closeInfo;
      queueMicrotask(() => listener(info));
      return { dispose: () => {} };
    }
    this.closeListeners.add(listener);
    return { dispose: () => this.closeListeners.delete(listener) };
  }

  /** Closes the connection; pending requests reject with ConnectionClosed. */
  async close(): Promise<void> {
    if (!this.closeInfo && !this.ended) {
      this.ended = true;
      this.socket.end();
      const t = setTimeout(() => this.socket.destroy(), 1000);
      t.unref?.();
    }
    await this.whenClosed;
  }

  // -------------------------------------------------------------------------

  private hello(client: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.welcomed = { resolve, reject };
      this.write({ type: 'hello', id: 0, protocol: PROTOCOL_VERSION, client });
    });
  }

  private call<T>(message: ClientMessage, options?: RequestOptions, onOk?: (result: unknown) => void): Promise<T> {
    if (this.closeInfo) return Promise.reject(new ControlError(this.closeInfo.code, this.closeInfo.message));
    if (this.ended) return Promise.reject(new ControlError('ConnectionClosed', 'The connection to the role is closing.'));
    const id = this.nextId++;
    let line: string;
    try {
      line = JSON.stringify({ ...message, id }) + '\n';
    } catch (error) {
      return Promise.reject(new ControlError('BadRequest', `The request cannot be encoded as JSON: ${(error as Error).message}`));
    }
    if (Buffer.byteLength(line) > this.maxRequestLineBytes) {
      return Promise.reject(new ControlError('RequestTooLarge', `The request is longer than the role accepts (${this.maxRequestLineBytes} bytes).`));
    }
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (v: unknown) => void, reject, ...(onOk ? { onOk } : {}) };
      if (options?.timeoutMs !== undefined && options.timeoutMs > 0) {
        const ms = options.timeoutMs;
        pending.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new ControlError('Timeout', `The role did not answer ${describe(message)} within ${seconds(ms)}.`));
        }, ms);
      }
      this.pending.set(id, pending);
      this.socket.write(line);
    });
  }

  private write(message: ClientMessage): void {
    this.socket.write(JSON.stringify(message) + '\n');
  }

  private onLine(line: string): void {
    if (this.closeInfo || !line.trim()) return;
    let message: ServerMessage | Record<string, unknown>;
    try {
      message = JSON.parse(line) as ServerMessage;
    } catch {
      return this.fatal('BadMessage', 'The role sent a line that is not JSON.');
    }
    if (typeof message !== 'object' || message === null) return this.fatal('BadMessage', 'The role sent a message that is not an object.');
    const m = message as ServerMessage;
    switch (m.type) {
      case 'event':
        return this.onEventMessage(m.seq, m.event);
      case 'reply': {
        if (typeof m.id !== 'number') return; // A reply to a line the role could not read; a bye follows.
        const pending = this.pending.get(m.id);
        if (!pending) return;
        this.pending.delete(m.id);
        if (pending.timer) clearTimeout(pending.timer);
        if (m.ok) {
          pending.onOk?.(m.result);
          pending.resolve(m.result);
        } else {
          pending.reject(fromWireError(m.error));
        }
        return;
      }
      case 'welcome': {
        if (m.protocol !== PROTOCOL_VERSION) return this.fatal('ProtocolMismatch', protocolMismatchMessage(m.protocol, PROTOCOL_VERSION));
        this.role = m.role ?? {};
        if (typeof m.limits?.maxRequestLineBytes === 'number') this.maxRequestLineBytes = m.limits.maxRequestLineBytes;
        const w = this.welcomed;
        this.welcomed = undefined;
        w?.resolve();
        return;
      }
      case 'bye':
        this.byeInfo = { code: String(m.code), message: String(m.message) };
        this.socket.end();
        return;
      default: {
        const legacy = message as { ok?: unknown; error?: { name?: unknown } };
        if (legacy.ok === false && this.welcomed) {
          // A role of the one-command-per-connection protocol answered the hello.
          return this.fatal('ProtocolMismatch', protocolMismatchMessage(0, PROTOCOL_VERSION), true);
        }
        return this.fatal('BadMessage', `The role sent a message of unknown type ${JSON.stringify((message as { type?: unknown }).type)}.`);
      }
    }
  }

  private onEventMessage(seq: number, event: unknown): void {
    const s = this.subscription;
    if (!s) return; // Not subscribed (any more): on its way before the unsubscribe.
    if (seq !== s.expected) {
      return this.fatal('SequenceGap', `Event ${seq} came where ${s.expected} was due: events were lost; subscribe again.`);
    }
    s.expected = seq + 1;
    if (s.held) s.held.push({ event, seq });
    else this.deliver(s, event, seq);
  }

  private deliver(s: Subscription, event: unknown, seq: number): void {
    try {
      s.onEvent(event, seq);
    } catch {
      // A faulty listener must not break the connection.
    }
  }

  /** Ends the connection for a reason of the client's. */
  private fatal(code: string, message: string, bye = false): void {
    if (this.closeInfo) return;
    this.byeInfo = undefined;
    this.finish({ code, message, bye });
    this.socket.destroy();
  }

  private onSocketClose(): void {
    if (this.closeInfo) return;
    if (this.byeInfo) this.finish({ ...this.byeInfo, bye: true });
    else if (this.ended) this.finish({ code: 'ConnectionClosed', message: 'The console closed the connection.', bye: false });
    else this.finish({ code: 'ConnectionClosed', message: `The role closed the connection (${this.socketPath}).`, bye: false });
  }

  private finish(info: CloseInfo): void {
    this.closeInfo = info;
    this.subscription = undefined;
    const error = new ControlError(info.code, info.message);
    this.welcomed?.reject(error);
    this.welcomed = undefined;
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new ControlError(info.code, info.message));
    }
    this.pending.clear();
    for (const listener of [...this.closeListeners]) {
      try {
        listener(info);
      } catch {
        // Keep telling the others.
      }
    }
    this.closeListeners.clear();
  }
}

function connectError(socketPath: string, error: NodeJS.ErrnoException): ControlError {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') {
    return new ControlError('RoleNotRunning', `No role is running for this site (nothing listens at ${socketPath}).`, { cause: error });
  }
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new ControlError('RoleUnreachable', `The role's control socket ${socketPath} refuses this user: it belongs to the user who runs the role.`, { cause: error });
  }
  return new ControlError('RoleUnreachable', `Cannot reach the role at ${socketPath}: ${error.message}`, { cause: error });
}

function describe(message: ClientMessage): string {
  return message.type === 'request' ? `the command ${JSON.stringify(message.command)}` : message.type;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 100) / 10} s`;
}
