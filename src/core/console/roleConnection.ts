// A console's attachment to the role of a site, whoever started it: found by
// the site lock (which names the control socket), signed in as a site user,
// subscribed to the role's state. When the role goes away the connection says
// so and tries again until it is back; a kept session (the role keeps sessions
// across restarts) signs in again with nothing typed.
import { ControlClient } from '../control/client';
import { isControlError } from '../control/errors';
import { controlPathFor } from '../control/protocol';
import { Emitter, type Disposable } from '../events';
import type { PublicRoleState } from '../role/roleQueries';
import { roleStateDirFor } from '../role/roleFolders';
import { siteLockFileFor, SiteLock } from '../role/siteLock';
import type { RoleEvent, UserView } from '../role/snapshot';
import { ConsoleState, type StateChange, type VisibleSnapshot } from './consoleState';

/** detached: no role answers; attached: connected, nobody signed in; signedIn: subscribed; closed: disposed. */
export type AttachmentState = 'detached' | 'attached' | 'signedIn' | 'closed';

/** Where the console keeps its session token (VS Code's SecretStorage; a file in tests). */
export interface SessionKeeper {
  get(): Promise<string | undefined>;
  set(token: string | undefined): Promise<void>;
}

export interface RoleConnectionOptions {
  siteDir: string;
  /** The role's state folder when it is not <site>/.clearance-role. */
  stateDir?: string;
  /** Who connects ('vscode'). */
  client: string;
  sessions: SessionKeeper;
  /** Time between two tries to reach a role that is not there (default 2 s). */
  retryMs?: number;
  log?: (line: string) => void;
}

export class RoleConnection {
  private readonly stateEvents = new Emitter<AttachmentState>();
  private readonly changeEvents = new Emitter<StateChange>();
  /** The attachment changed (a role came or went, a user signed in or out). */
  readonly onDidChangeAttachment = this.stateEvents.event;
  /** The role's state changed (after sign-in). */
  readonly onDidChange = this.changeEvents.event;
  private attachment: AttachmentState = 'detached';
  private client: ControlClient | undefined;
  private session: string | undefined;
  private view: UserView | undefined;
  private current: ConsoleState | undefined;
  private stateSub: Disposable | undefined;
  private retry: NodeJS.Timeout | undefined;
  private attaching: Promise<void> | undefined;
  private registryFetch: Promise<void> | undefined;
  private readonly log: (line: string) => void;

  constructor(private readonly o: RoleConnectionOptions) {
    this.log = o.log ?? (() => undefined);
  }

  get state(): AttachmentState {
    return this.attachment;
  }

  /** The role's state as this user may see it; undefined until signed in. */
  get role(): ConsoleState | undefined {
    return this.current;
  }

  /** What the role said of itself when this connection attached (its process and since when), if attached. */
  get roleProcess(): { pid?: number; startedAt?: string } | undefined {
    const info = this.client?.role;
    if (!info) return undefined;
    return {
      ...(typeof info.pid === 'number' ? { pid: info.pid } : {}),
      ...(typeof info.startedAt === 'string' ? { startedAt: info.startedAt } : {}),
    };
  }

  /** The signed-in user and what they may do. */
  get user(): UserView | undefined {
    return this.view;
  }

  /** Connects (and signs in with a kept session); keeps trying in the background while no role answers. */
  attach(): Promise<void> {
    this.attaching ??= this.tryAttach().finally(() => (this.attaching = undefined));
    return this.attaching;
  }

  /** What anyone may see: status, connection, account id. */
  publicState(): Promise<PublicRoleState> {
    return this.connected().request<PublicRoleState>('role.state');
  }

  userNames(): Promise<{ id: string; name: string; displayName: string }[]> {
    return this.connected().request('site.userNames');
  }

  async signIn(user: string, password: string): Promise<UserView> {
    return this.begin({ user, password });
  }

  /** Signs in with a one-time ticket (`clearance-role users sign-in-ticket`), e.g. the one `npm start` leaves. */
  async signInWithTicket(ticket: string): Promise<UserView> {
    return this.begin({ ticket });
  }

  private async begin(args: { user: string; password: string } | { ticket: string }): Promise<UserView> {
    const signed = await this.connected().request<{ session: string; view: UserView }>('session.signIn', args);
    await this.o.sessions.set(signed.session);
    await this.subscribe(signed.session);
    return signed.view;
  }

  async signOut(): Promise<void> {
    const session = this.session;
    this.endSubscription();
    await this.o.sessions.set(undefined);
    if (session && this.client && !this.client.closed) await this.client.request('session.signOut', {}, session).catch(() => undefined);
    this.setAttachment(this.client && !this.client.closed ? 'attached' : 'detached');
  }

  /** Runs a role command as the signed-in user. */
  request<T = unknown>(command: string, args?: unknown): Promise<T> {
    return this.connected().request<T>(command, args ?? {}, this.session);
  }

  async dispose(): Promise<void> {
    this.setAttachment('closed');
    if (this.retry) clearTimeout(this.retry);
    this.endSubscription();
    await this.client?.close();
    this.stateEvents.dispose();
    this.changeEvents.dispose();
  }

  // ---------------------------------------------------------------------------

  private connected(): ControlClient {
    if (!this.client || this.client.closed) throw new Error(`No Clearance role is running for ${this.o.siteDir}. Start it with the task "Run Clearance Role" or \`clearance-role run --site ${this.o.siteDir}\`.`);
    return this.client;
  }

  private async socketPath(): Promise<string> {
    const holder = await SiteLock.holder(siteLockFileFor(this.o.siteDir));
    return holder?.controlPath ?? controlPathFor(roleStateDirFor(this.o.siteDir, this.o.stateDir));
  }

  private async tryAttach(): Promise<void> {
    if (this.attachment === 'closed' || (this.client && !this.client.closed)) return;
    let client: ControlClient;
    try {
      client = await ControlClient.connect(await this.socketPath(), { client: this.o.client, timeoutMs: 10_000 });
    } catch (error) {
      this.setAttachment('detached');
      this.scheduleRetry();
      this.log(`role: not reachable (${(error as Error).message})`);
      return;
    }
    if ((this.attachment as AttachmentState) === 'closed') {
      await client.close();
      return;
    }
    this.client = client;
    client.onClose((info) => {
      if (this.client !== client) return;
      this.log(`role: connection lost (${info.code}: ${info.message})`);
      this.endSubscription();
      this.client = undefined;
      if (this.attachment !== 'closed') {
        this.setAttachment('detached');
        this.scheduleRetry();
      }
    });
    this.setAttachment('attached');
    const kept = await this.o.sessions.get();
    if (!kept) return;
    try {
      await this.subscribe(kept);
    } catch (error) {
      // An ended session is forgotten; the user signs in again.
      if (isControlError(error) && ['SessionExpired', 'SessionInvalid', 'SessionRequired'].includes(error.code)) await this.o.sessions.set(undefined);
      else throw error;
    }
  }

  private async subscribe(session: string): Promise<void> {
    const client = this.connected();
    if (client.closed) return;
    this.endSubscription();
    this.view = (await client.request<{ view: UserView }>('session.whoami', {}, session)).view;
    // Events read before the snapshot is applied wait for it (the client delivers none before; this is a guard).
    const built: { state?: ConsoleState } = {};
    const held: { event: RoleEvent; seq: number }[] = [];
    const result = await client.subscribe<VisibleSnapshot, RoleEvent>(session, (event, seq) => {
      if (built.state) this.applyEvent(built.state, event, seq);
      else held.push({ event, seq });
    });
    const state = new ConsoleState(result.snapshot, result.seq);
    built.state = state;
    for (const h of held) this.applyEvent(state, h.event, h.seq);
    this.session = session;
    this.current = state;
    this.stateSub = state.onDidChange((c) => this.changeEvents.fire(c));
    this.setAttachment('signedIn');
  }

  private applyEvent(state: ConsoleState, event: RoleEvent, seq: number): void {
    const change = state.apply(event, seq);
    if (change.registryStale && state === this.current) this.refetchRegistry(state);
  }

  /** Fetches the registry again after a selection change; several changes in a row share one fetch. */
  private refetchRegistry(state: ConsoleState): void {
    this.registryFetch ??= (async () => {
      await new Promise((r) => setTimeout(r, 50));
      this.registryFetch = undefined;
      try {
        state.replaceRegistry(await this.request('registry.get'));
      } catch (error) {
        this.log(`role: could not fetch the registry (${(error as Error).message})`);
      }
    })();
  }

  private endSubscription(): void {
    const subscribed = this.current !== undefined;
    this.stateSub?.dispose();
    this.stateSub = undefined;
    this.current?.dispose();
    this.current = undefined;
    this.session = undefined;
    this.view = undefined;
    if (subscribed && this.client && !this.client.closed) void this.client.unsubscribe().catch(() => undefined);
  }

  private scheduleRetry(): void {
    if (this.retry || this.attachment === 'closed') return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.attach();
    }, this.o.retryMs ?? 2000);
    this.retry.unref?.();
  }

  private setAttachment(next: AttachmentState): void {
    if (this.attachment === next || this.attachment === 'closed') return;
    this.attachment = next;
    this.stateEvents.fire(next);
  }
}
