// The role's Clearance account and its connection: importing, adopting and
// disconnecting the account, and the service clients (tokens, session, agent,
// document store) built for it when first needed after a start or an account
// change. It also knows whether the role has signed in since it started, which
// is what the connection state in a snapshot reports.
import { AgentClient } from '../clearance/agentClient';
import { DocumentStoreClient } from '../clearance/documentStore';
import { ClearanceSession } from '../clearance/session';
import { TokenProvider } from '../clearance/tokenProvider';
import { AccountNotConnectedError, type AccountStore, type ImportResult } from '../config/accountStore';
import { parseConnectionFile, type AccountInfo } from '../config/connectionFile';
import { ValidationError } from '../config/fieldErrors';
import type { Clock } from '../net/clock';
import type { HttpClient } from '../net/httpClient';
import type { PollerStatus } from '../requests/poller';
import type { ActivityRecorder } from './activityRecorder';
import type { ConnectionSnapshot, ConnectionState, RoleStatus } from './snapshot';

export interface Connection {
  account: AccountInfo;
  tokens: TokenProvider;
  session: ClearanceSession;
  agent: AgentClient;
  documents: DocumentStoreClient;
}

export interface AccountControllerOptions {
  accounts: AccountStore;
  http: HttpClient;
  clock: Clock;
  recorder: ActivityRecorder;
}

export class AccountController {
  private conn: Connection | undefined;
  private signedIn = false;

  constructor(private readonly o: AccountControllerOptions) {}

  /** The clients of the current account; throws when they have not been built since the last start or change. */
  connection(): Connection {
    if (this.conn) return this.conn;
    throw new AccountNotConnectedError();
  }

  /** The service clients, built when first needed after a start or an account change. */
  async ensureConnection(): Promise<Connection> {
    this.conn ??= await this.connect();
    return this.conn;
  }

  /** The connection, signed in (and the sign-in recorded) on the first poll after a start. */
  async signedInConnection(signal: AbortSignal): Promise<Connection> {
    const conn = await this.ensureConnection();
    if (!this.signedIn) {
      await conn.tokens.token(signal);
      this.signedIn = true;
      await this.o.recorder.signedIn(conn.account);
    }
    return conn;
  }

  /** A start signs in again (and records it). */
  forgetSignIn(): void {
    this.signedIn = false;
  }

  /** The account changed: the clients of the old one go. */
  accountChanged(): void {
    this.close();
    this.signedIn = false;
  }

  /** Connected or signed in since the last start or account change. */
  get inUse(): boolean {
    return this.conn !== undefined || this.signedIn;
  }

  async importConnectionFile(who: string, text: string, source?: string): Promise<ImportResult> {
    const previous = await this.o.accounts.current();
    const result = await this.o.accounts.importConnectionFile(text, source);
    if (result.ok) await this.o.recorder.accountImported(who, result.account, previous, source);
    return result;
  }

  /** Imports the connection file only when it differs from the current account. */
  async adoptConnectionFile(text: string, source?: string): Promise<{ imported: boolean; account: AccountInfo }> {
    const parsed = parseConnectionFile(text, source, { now: new Date(this.o.clock.now()) });
    if (!parsed.ok) throw new ValidationError(`The connection file${source ? ` ${source}` : ''}`, parsed.errors);
    const current = await this.o.accounts.current();
    if (current && sameAccount(current, parsed.account)) return { imported: false, account: current };
    const result = await this.importConnectionFile('headless runner', text, source);
    if (!result.ok) throw new ValidationError('The connection file', result.errors);
    return { imported: true, account: result.account };
  }

  async disconnect(who: string): Promise<void> {
    const previous = await this.o.accounts.current();
    await this.o.accounts.disconnect();
    if (previous) await this.o.recorder.accountDisconnected(who, previous);
  }

  connectionSnapshot(hasAccount: boolean, status: RoleStatus, poller: PollerStatus, pollIntervalMs: number): ConnectionSnapshot {
    let state: ConnectionState;
    if (!hasAccount && !this.conn) state = 'notConnected';
    else if (status === 'stopped' || status === 'stopping') state = 'offline';
    else if (poller.consecutiveFailures > 0) state = 'unreachable';
    else if (!this.signedIn) state = 'signingIn';
    else state = 'online';
    const lastError = poller.lastError;
    return { state, signedIn: this.signedIn, poller, pollIntervalMs, ...(lastError ? { lastError } : {}) };
  }

  close(): void {
    this.conn?.tokens.dispose();
    this.conn = undefined;
  }

  /** Builds the service clients for the current account. */
  private async connect(): Promise<Connection> {
    const { accounts, http, clock } = this.o;
    const account = await accounts.current();
    if (!account) throw new AccountNotConnectedError();
    const sts = account.baseAddresses.SecurityTokenServiceBaseAddresses[0];
    const api = account.baseAddresses.ApiBaseAddresses[0];
    if (!sts || !api) throw new Error('The account has no token service or API address: import its connection file again.');
    const tokens = new TokenProvider(http, TokenProvider.tokenUrlFor(sts), () => accounts.signingCredentials(), clock);
    const session = new ClearanceSession(http, tokens);
    const agent = new AgentClient(session, {
      apiBase: api,
      deviceServiceBase: account.baseAddresses.DeviceServiceBaseAddresses[0] ?? `${api.replace(/\/+$/, '')}/deviceservice/api/v1`,
      tenantId: account.accountId,
    });
    return { account, tokens, session, agent, documents: DocumentStoreClient.forAccount(session, account) };
  }
}

function sameAccount(a: AccountInfo, b: AccountInfo): boolean {
  return (
    a.clientId === b.clientId &&
    a.publicKeyFingerprint === b.publicKeyFingerprint &&
    a.disableEncryption === b.disableEncryption &&
    JSON.stringify(a.baseAddresses) === JSON.stringify(b.baseAddresses)
  );
}
