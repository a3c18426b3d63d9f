// The Role engine: one object that composes the account, the role properties,
// the site, the upload queue, the poller, the registry selection, the video
// request desk and the activity trail. The VS Code console and the headless
// runner both drive it: they render its snapshots, listen to its events, and
// call its commands. Every command names the site user who asks and passes the
// one privilege check; every change it makes is recorded in the trail.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Keyv from 'keyv';
import { ActivityTrail, activitiesToCsv, type ActivityInput, type ActivityQuery, type ActivityRecord, type TrailVerification } from '../audit/activityTrail';
import type { AgentJob, MediaRequestJobPayload, ThumbnailJobPayload } from '../clearance/api';
import { AgentClient, isConflict } from '../clearance/agentClient';
import { BlobClient } from '../clearance/blobClient';
import { DocumentStoreClient } from '../clearance/documentStore';
import { ClearanceSession } from '../clearance/session';
import { TokenProvider } from '../clearance/tokenProvider';
import { AccountNotConnectedError, AccountStore, type ImportResult } from '../config/accountStore';
import { parseConnectionFile, type AccountInfo } from '../config/connectionFile';
import { ValidationError, type FieldIssue } from '../config/fieldErrors';
import {
  activateRolePrivileges,
  allowedActions,
  checkPrivilege,
  findSiteUser,
  type PrivilegeActivation,
  type RoleAction,
} from '../config/privileges';
import { PROXY_PASSWORD_SECRET_KEY, prepareArchiveFolder, saveProxyPassword, validateRoleProperties, type RoleProperties } from '../config/roleProperties';
import type { SecretStore } from '../config/secretStore';
import { Emitter, type Disposable } from '../events';
import { systemClock, type Clock } from '../net/clock';
import { NetworkError, ServiceError, TimeoutError } from '../net/errors';
import { HttpClient, type HttpClientOptions } from '../net/httpClient';
import { TokenBucket } from '../net/bandwidth';
import type { RoleProxy } from '../net/proxy';
import { CameraRegistry } from '../registry/cameraRegistry';
import type { SelectionEntry } from '../registry/registrySelection';
import { Poller } from '../requests/poller';
import { RequestNotifications } from '../requests/requestNotifications';
import type { VideoRequest } from '../requests/videoRequest';
import { ROLE_ACTOR, short, VideoRequestDesk } from '../requests/videoRequestDesk';
import { isSiteError, type Camera, type Site, type SiteUser } from '../site/model';
import { exportToClearance, OperatorExportError, type OperatorExportMedia } from '../export';
import { JournalStore } from '../store/journalStore';
import type { CaseTarget, UploadJobSnapshot } from '../uploads/uploadJob';
import { UploadQueue } from '../uploads/uploadQueue';
import type { ConnectionSnapshot, ConnectionState, RoleEvent, RoleSnapshot, RoleStatus, UserView } from './snapshot';
import { SiteLock } from './siteLock';

export interface RoleOptions {
  /** Folder of the role's own state: the state journal and the activity trail. Created if missing. */
  stateDir: string;
  site: Site;
  /** Private keys, the proxy password and content keys (VS Code SecretStorage, or an owner-only file). */
  secrets: SecretStore;
  /**
   * Role properties (checked with validateRoleProperties). Absent: the ones last used
   * with this state, else the defaults with the archive folder in the state folder.
   */
  properties?: RoleProperties;
  /** One role instance per site: the lock file to hold while the role is open. */
  lockFile?: string;
  /** Recorded in the lock file, for `clearance-role approve` and friends to find a running role. */
  controlPath?: string;
  /** Who holds the lock ("runner", "vscode"…). */
  purpose?: string;
  clock?: Clock;
  log?: (line: string) => void;
  /** Routine lines (every poll, every discovery answer); off unless given. */
  debug?: (line: string) => void;
  /** Overrides the polling interval property (tests and demos poll faster than the 5 s minimum). */
  pollIntervalMs?: number;
  /** Longest exported part (default 60 min; tests use less). */
  maxExportPartMs?: number;
  /** Lock lease asked of the service for each job (default 300 s). */
  leaseSeconds?: number;
  /** Upload block size (default 4 MiB). */
  blockSize?: number;
  http?: Pick<HttpClientOptions, 'extraCaFile' | 'timeoutMs' | 'retry' | 'userAgent'>;
}

export interface OperatorExportInput {
  cameras: string[];
  from: string | Date;
  to: string | Date;
  caseTarget?: CaseTarget;
  /** Evidence name (default: cameras and range). */
  name?: string;
  description?: string;
}

export interface SnapshotExportInput {
  /** One camera, or several (one image each). */
  camera: string | string[];
  at: string | Date;
  caseTarget?: CaseTarget;
  name?: string;
  description?: string;
}

interface Connection {
  account: AccountInfo;
  tokens: TokenProvider;
  session: ClearanceSession;
  agent: AgentClient;
  documents: DocumentStoreClient;
}

const PROPERTIES_KEY = 'role.properties';
/** [ours] The service takes thumbnails up to this much base64. */
const MAX_THUMBNAIL_BASE64 = 700_000;
const RECENT_ACTIVITIES = 50;

export class Role {
  private readonly events = new Emitter<RoleEvent>();
  /** Every change, for trees and webviews to render again. */
  readonly onDidChange = this.events.event;
  private status: RoleStatus = 'stopped';
  private conn: Connection | undefined;
  private signedIn = false;
  private readonly disposables: Disposable[] = [];
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private discoveryAsked = false;
  /** Trail records that existed before this role opened (the ones after are this run's). */
  readonly recordsBeforeOpen: number;
  private closed = false;

  private constructor(
    private readonly o: RoleOptions,
    private readonly journal: JournalStore,
    private props: RoleProperties,
    readonly accounts: AccountStore,
    readonly trail: ActivityTrail,
    readonly registry: CameraRegistry,
    readonly notifications: RequestNotifications,
    private readonly http: HttpClient,
    private readonly bucket: TokenBucket,
    readonly uploads: UploadQueue,
    readonly requests: VideoRequestDesk,
    private readonly poller: Poller,
    private readonly lock: SiteLock | undefined,
    private readonly activation: PrivilegeActivation,
    private readonly roleState: Keyv,
  ) {
    this.clock = o.clock ?? systemClock;
    this.log = o.log ?? (() => undefined);
    this.recordsBeforeOpen = trail.records().length;
  }

  /**
   * Opens the role: takes the site lock, opens its state, creates the role's
   * privileges on the first activation, and records changed properties. Nothing
   * talks to the service until start().
   */
  static async open(options: RoleOptions): Promise<Role> {
    const clock = options.clock ?? systemClock;
    const log = options.log ?? (() => undefined);
    if (options.properties) {
      const checked = validateRoleProperties(options.properties);
      if (!checked.ok) throw new ValidationError('The role properties', checked.errors);
    }
    await fs.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    const lock = options.lockFile
      ? await SiteLock.acquire(options.lockFile, { purpose: options.purpose ?? 'role', ...(options.controlPath ? { controlPath: options.controlPath } : {}) })
      : undefined;
    let journal: JournalStore | undefined;
    try {
      journal = new JournalStore({ path: path.join(options.stateDir, 'role-state.jsonl'), now: () => clock.now() });
      if (journal.openReport.tornTail) log('role state: dropped a torn last write from a crash');
      const roleState = new Keyv({ store: journal, namespace: 'role' });
      const properties = options.properties ?? (await storedProperties(roleState, options.stateDir));
      const accountState = new Keyv({ store: journal.view(), namespace: 'account' });
      const uploadState = new Keyv({ store: journal.view(), namespace: 'uploads' });
      const trail = await ActivityTrail.open(path.join(options.stateDir, 'trail'), () => new Date(clock.now()));
      const accounts = new AccountStore({ state: accountState, secrets: options.secrets, now: () => new Date(clock.now()), onWarning: log });
      await accounts.recover();
      const archive = await prepareArchiveFolder(properties.archiveDestinationFolder);
      if (!archive.ok) throw new ValidationError('The role properties', archive.errors);
      for (const w of archive.warnings) log(`warning: ${w.field}: ${w.message}`);

      const http = await HttpClient.create({
        ...options.http,
        clock,
        proxy: await proxyOf(properties, options.secrets),
        onRetry: (n) => log(`retrying ${n.method} ${n.url} in ${Math.round(n.delayMs)} ms (${n.reason})`),
      });
      const bucket = new TokenBucket(properties.maximumBandwidthMbps, { clock });
      // The queue and the desk are built before the role that owns their connection.
      const holder: { role?: Role } = {};
      const connection = (): Connection => {
        if (!holder.role) throw new Error('The role is not open yet.');
        return holder.role.connection();
      };
      const uploads = await UploadQueue.open({
        store: uploadState,
        secrets: options.secrets,
        evidence: {
          createCase: (i) => connection().documents.createCase(i),
          createEvidence: (i) => connection().documents.createEvidence(i),
          linkEvidenceToCase: (c, e) => connection().documents.linkEvidenceToCase(c, e),
          createResource: (e, i) => connection().documents.createResource(e, i),
          completeResource: (e, r, i) => connection().documents.completeResource(e, r, i),
          completeEvidence: (e) => connection().documents.completeEvidence(e),
          deleteEvidence: (e) => connection().documents.deleteEvidence(e),
          encryptionKey: () => connection().documents.encryptionKey(),
        },
        blobs: new BlobClient(http),
        limiter: bucket,
        archiveFolder: properties.archiveDestinationFolder,
        throttling: properties.throttlingEnabled,
        ...(options.blockSize ? { blockSize: options.blockSize } : {}),
        clock: () => clock.now(),
        onWarning: log,
      });
      const registry = await CameraRegistry.open(roleState, options.site);
      const notifications = await RequestNotifications.open(roleState, options.site);
      const requests = await VideoRequestDesk.open({
        agent: {
          lock: (...a) => connection().agent.lock(...a),
          progress: (...a) => connection().agent.progress(...a),
          complete: (...a) => connection().agent.complete(...a),
          fail: (...a) => connection().agent.fail(...a),
          getRequest: (...a) => connection().agent.getRequest(...a),
        },
        site: options.site,
        uploads,
        trail,
        state: roleState,
        clock,
        outsideSelection: async (ids) => {
          const inside = new Set((await registry.effectiveCameras()).map((c) => c.id));
          return ids.filter((id) => !inside.has(id));
        },
        ...(options.leaseSeconds ? { leaseSeconds: options.leaseSeconds } : {}),
        ...(options.maxExportPartMs ? { maxExportPartMs: options.maxExportPartMs } : {}),
        log,
      });
      const poller = new Poller({
        intervalMs: () => holder.role?.pollIntervalMs ?? properties.pollingIntervalSeconds * 1000,
        tick: (signal, poll) => holder.role!.tick(signal, poll),
        clock,
      });
      const activation = await activateRolePrivileges(roleState, options.site, new Date(clock.now()));
      const role = new Role(options, journal, properties, accounts, trail, registry, notifications, http, bucket, uploads, requests, poller, lock, activation, roleState);
      holder.role = role;
      await role.afterOpen();
      return role;
    } catch (error) {
      await journal?.disconnect().catch(() => undefined);
      await lock?.release();
      throw error;
    }
  }

  // ---------------------------------------------------------------------------
  // Life cycle

  /** Starts polling and the upload queue. Needs an account. */
  async start(): Promise<void> {
    if (this.closed) throw new Error('The role is closed.');
    if (this.status === 'running' || this.status === 'starting') return;
    const account = await this.accounts.current();
    if (!account) throw new AccountNotConnectedError();
    this.setStatus('starting');
    try {
      await this.ensureConnection();
    } catch (error) {
      this.setStatus('stopped');
      throw error;
    }
    this.signedIn = false;
    this.discoveryAsked = false;
    await this.record({ type: 'roleStarted', summary: `Role started for ${this.o.site.description} (account ${account.accountId})`, user: ROLE_ACTOR, details: { pollIntervalMs: this.pollIntervalMs } });
    this.uploads.start();
    this.requests.start();
    this.poller.start();
    this.setStatus('running');
  }

  /** Stops cleanly: the poll in flight is aborted, work in flight stops where it can resume. */
  async stop(): Promise<void> {
    if (this.status !== 'running' && this.status !== 'starting') return;
    this.setStatus('stopping');
    await this.poller.stop();
    await this.requests.stop();
    await this.uploads.stop();
    await this.record({ type: 'roleStopped', summary: 'Role stopped', user: ROLE_ACTOR });
    this.setStatus('stopped');
  }

  /** Stops, releases the site lock and closes the state. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    this.conn?.tokens.dispose();
    this.conn = undefined;
    for (const d of this.disposables) d.dispose();
    this.poller.dispose();
    this.requests.dispose();
    this.uploads.dispose();
    this.registry.dispose();
    this.trail.dispose();
    this.accounts.dispose();
    this.http.close();
    await this.journal.disconnect();
    await this.lock?.release();
    this.events.dispose();
  }

  get isRunning(): boolean {
    return this.status === 'running';
  }

  get pollIntervalMs(): number {
    return this.o.pollIntervalMs ?? this.props.pollingIntervalSeconds * 1000;
  }

  get properties(): RoleProperties {
    return this.props;
  }

  // ---------------------------------------------------------------------------
  // Snapshots

  async snapshot(recent = RECENT_ACTIVITIES): Promise<RoleSnapshot> {
    const model = await this.o.site.model();
    const account = await this.accounts.current();
    const records = this.trail.records();
    return {
      status: this.status,
      site: { name: model.name, description: this.o.site.description },
      ...(account ? { account } : {}),
      properties: this.props,
      connection: this.connectionSnapshot(account !== undefined),
      registry: await this.registry.snapshot(),
      requests: this.requests.list(),
      uploads: this.uploads.snapshot(),
      notificationUserIds: [...this.notifications.userIds],
      activities: { count: records.length, recent: records.slice(-recent) },
      privileges: { activatedAt: this.activation.activatedAt, definitions: this.activation.privileges },
    };
  }

  /** What a site user may do, for a UI that hides the rest. */
  async viewFor(user: string): Promise<UserView> {
    const found = await findSiteUser(this.o.site, user);
    if (!found) throw new ValidationError('The user', [{ field: 'user', message: `no site user ${JSON.stringify(user)}` }]);
    return { user: found, actions: await allowedActions(this.o.site, found.id) };
  }

  /** The one privilege check of every entry point; answers the user's login name. */
  async authorize(user: string, action: RoleAction): Promise<string> {
    return (await this.checkedUser(user, action)).name;
  }

  private checkedUser(user: string, action: RoleAction): Promise<SiteUser> {
    return checkPrivilege(this.o.site, user, action);
  }

  // ---------------------------------------------------------------------------
  // Commands: camera selection

  async addToSelection(user: string, entry: SelectionEntry): Promise<void> {
    const who = await this.authorize(user, 'changeCameraSelection');
    const change = await this.registry.add(entry);
    if (change) await this.selectionChanged(who, change);
  }

  /** Refused (SelectionRefused) for one camera of a selected area or federation: remove the whole one. */
  async removeFromSelection(user: string, entry: SelectionEntry): Promise<void> {
    const who = await this.authorize(user, 'changeCameraSelection');
    const change = await this.registry.remove(entry);
    if (change) await this.selectionChanged(who, change);
  }

  // ---------------------------------------------------------------------------
  // Commands: video requests

  async approveRequest(user: string, requestId: string): Promise<VideoRequest> {
    const who = await this.authorize(user, 'decideRequest');
    await this.ensureConnection(); // the work needs the service even while polling is stopped
    return this.requests.approve(requestId, who);
  }

  async denyRequest(user: string, requestId: string, reason: string): Promise<VideoRequest> {
    const who = await this.authorize(user, 'decideRequest');
    await this.ensureConnection();
    return this.requests.deny(requestId, who, reason);
  }

  /** Resolves once the request is final and its result is at the service. */
  whenRequestSettled(requestId: string): Promise<VideoRequest> {
    return this.requests.whenSettled(requestId);
  }

  /** Polls now; resolves after that poll. */
  async pollNow(user: string): Promise<void> {
    await this.authorize(user, 'viewRequests');
    await this.poller.pollNow();
  }

  // ---------------------------------------------------------------------------
  // Commands: operator export

  /** Exports recordings of one or more cameras for one synchronised time range, as one evidence item. */
  async exportVideo(user: string, input: OperatorExportInput): Promise<UploadJobSnapshot> {
    const who = await this.checkedUser(user, 'sendEvidence');
    const issues: FieldIssue[] = [];
    const cameras = await this.resolveCameras(Array.isArray(input.cameras) ? input.cameras : [], 'cameras', issues);
    const from = toDate(input.from);
    const to = toDate(input.to);
    if (!from) issues.push({ field: 'from', message: 'must be a date and time (ISO 8601)' });
    if (!to) issues.push({ field: 'to', message: 'must be a date and time (ISO 8601)' });
    if (issues.length > 0) throw new ValidationError('The export', issues);
    return this.operatorExport(who, { kind: 'recordings', cameraIds: cameras.map((c) => c.id), from: from!, to: to! }, input);
  }

  /** Sends a still image of each camera at one instant, as one evidence item. */
  async sendSnapshot(user: string, input: SnapshotExportInput): Promise<UploadJobSnapshot> {
    const who = await this.checkedUser(user, 'sendSnapshot');
    const issues: FieldIssue[] = [];
    const cameras = await this.resolveCameras(Array.isArray(input.camera) ? input.camera : [input.camera], 'camera', issues);
    const at = toDate(input.at);
    if (!at) issues.push({ field: 'at', message: 'must be a date and time (ISO 8601)' });
    if (issues.length > 0) throw new ValidationError('The snapshot', issues);
    return this.operatorExport(who, { kind: 'snapshot', cameraIds: cameras.map((c) => c.id), at: at! }, input);
  }

  async pauseUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.pause(id);
  }

  async resumeUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.resume(id);
  }

  async retryUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.retry(id);
  }

  async cancelUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.cancel(id);
  }

  // ---------------------------------------------------------------------------
  // Commands: configuration

  /** Changes role properties (a partial set); bad input changes nothing and names every field. */
  async setProperties(user: string, changes: Record<string, unknown>): Promise<{ changed: string[]; warnings: string[] }> {
    const who = await this.authorize(user, 'changeConfiguration');
    const merged = { ...this.props, ...changes, proxy: { ...this.props.proxy, ...(changes.proxy as object | undefined) } };
    const checked = validateRoleProperties(merged);
    if (!checked.ok) throw new ValidationError('The role properties', checked.errors);
    const warnings = checked.warnings.map((w) => `${w.field}: ${w.message}`);
    if (checked.value.archiveDestinationFolder !== this.props.archiveDestinationFolder) {
      const archive = await prepareArchiveFolder(checked.value.archiveDestinationFolder);
      if (!archive.ok) throw new ValidationError('The role properties', archive.errors);
      warnings.push(...archive.warnings.map((w) => `${w.field}: ${w.message}`), 'archiveDestinationFolder: new uploads stage there after the role restarts');
    }
    const changed = await this.applyProperties(checked.value, who);
    return { changed, warnings };
  }

  /**
   * The proxy password goes to the SecretStore, never to the properties or the trail.
   * A bad one is refused (field proxy.password) and nothing is stored.
   */
  async setProxyPassword(user: string, password: string | undefined): Promise<void> {
    const who = await this.authorize(user, 'changeConfiguration');
    await this.applyProxyPassword(who, password);
  }

  /**
   * The headless runner's own proxy password (its --proxy-password-file): stored when it
   * differs from the one kept. Not a user command: no site privilege applies.
   */
  async adoptProxyPassword(password: string): Promise<{ changed: boolean }> {
    if ((await this.o.secrets.get(PROXY_PASSWORD_SECRET_KEY)) === password) return { changed: false };
    await this.applyProxyPassword('headless runner', password);
    return { changed: true };
  }

  private async applyProxyPassword(who: string, password: string | undefined): Promise<void> {
    if (password !== undefined && typeof password !== 'string') throw new ValidationError('The proxy password', [{ field: 'proxy.password', message: 'must be text' }]);
    const issues = await saveProxyPassword(this.o.secrets, password);
    if (issues.length) throw new ValidationError('The proxy password', issues);
    await this.http.reconfigure({ proxy: await proxyOf(this.props, this.o.secrets), ...(this.o.http?.extraCaFile ? { extraCaFile: this.o.http.extraCaFile } : {}) });
    await this.record({ type: 'configurationChanged', summary: `Proxy password ${password ? 'changed' : 'removed'}`, user: who, details: { field: 'proxy.password' } });
  }

  async setNotificationUsers(user: string, users: string[]): Promise<string[]> {
    const who = await this.authorize(user, 'changeConfiguration');
    const { before, after } = await this.notifications.set(users);
    await this.record({
      type: 'configurationChanged',
      summary: `Request notifications go to ${after.length ? (await this.userNames(after)).join(', ') : 'nobody'}`,
      user: who,
      details: { field: 'requestNotifications', before: before.join(' '), after: after.join(' ') },
    });
    this.events.fire({ kind: 'notificationUsers', userIds: after });
    return after;
  }

  /** Imports a connection file (replacing the account); the role reconnects with it. */
  async importConnectionFile(user: string, text: string, source?: string): Promise<ImportResult> {
    const who = await this.authorize(user, 'changeConfiguration');
    return this.importAccount(who, text, source);
  }

  async disconnectAccount(user: string): Promise<void> {
    const who = await this.authorize(user, 'changeConfiguration');
    await this.stop();
    const previous = await this.accounts.current();
    await this.accounts.disconnect();
    if (previous) await this.record({ type: 'accountDisconnected', summary: `Account ${previous.accountId} disconnected`, user: who, details: { accountId: previous.accountId } });
  }

  /**
   * The headless runner's own configuration (its --connection file): imported only when
   * it differs from the current account. Not a user command: no site privilege applies.
   */
  async adoptConnectionFile(text: string, source?: string): Promise<{ imported: boolean; account: AccountInfo }> {
    const parsed = parseConnectionFile(text, source, { now: new Date(this.clock.now()) });
    if (!parsed.ok) throw new ValidationError(`The connection file${source ? ` ${source}` : ''}`, parsed.errors);
    const current = await this.accounts.current();
    if (current && sameAccount(current, parsed.account)) return { imported: false, account: current };
    const result = await this.importAccount('headless runner', text, source);
    if (!result.ok) throw new ValidationError('The connection file', result.errors);
    return { imported: true, account: result.account };
  }

  // ---------------------------------------------------------------------------
  // Commands: activity trail

  async queryActivities(user: string, query: ActivityQuery = {}): Promise<ActivityRecord[]> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.query(query);
  }

  async verifyTrail(user: string): Promise<TrailVerification> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.verify();
  }

  async exportActivitiesCsv(user: string, query: ActivityQuery = {}): Promise<string> {
    await this.authorize(user, 'viewConfiguration');
    return activitiesToCsv(this.trail.query(query));
  }

  // ---------------------------------------------------------------------------
  // The poll

  private async tick(signal: AbortSignal, poll: number): Promise<void> {
    const conn = await this.ensureConnection();
    if (!this.signedIn) {
      await conn.tokens.token(signal);
      this.signedIn = true;
      await this.record({
        type: 'signIn',
        summary: `Signed in to Clearance account ${conn.account.accountId} as ${conn.account.clientId}`,
        user: ROLE_ACTOR,
        details: { accountId: conn.account.accountId, clientId: conn.account.clientId, integration: conn.account.integrationName },
      });
    }
    const jobs = await conn.agent.listJobs(undefined, signal);
    let owners: Map<string, string> | undefined;
    const ownerOf = async (cameraId: string): Promise<string | undefined> => {
      owners ??= new Map((await conn.agent.registry(signal)).map((c) => [c.id, c.owner]));
      return owners.get(cameraId);
    };
    const ours = async (cameraIds: string[]): Promise<boolean> => {
      for (const id of cameraIds) {
        const owner = await ownerOf(id);
        if (owner === undefined || owner === conn.account.clientId) return true;
      }
      return false;
    };
    let sawDiscovery = false;
    for (const job of jobs) {
      signal.throwIfAborted();
      try {
        if (job.type === 'discovery') {
          sawDiscovery = true;
          await this.answerDiscovery(conn, job, signal);
        } else if (job.type === 'thumbnail') {
          const payload = job.payload as ThumbnailJobPayload;
          if (job.state === 'Locked' || (await ours([payload.cameraId]))) await this.answerThumbnail(conn, job, signal);
        } else if (job.type === 'mediarequest') {
          const payload = job.payload as MediaRequestJobPayload;
          if (this.requests.get(payload.requestId) || (await ours(payload.cameras.map((c) => c.id)))) await this.requests.receive(job, signal);
        }
      } catch (error) {
        if (signal.aborted) throw error;
        this.log(`poll ${poll}: ${job.type} job ${short(job.jobId)}: ${(error as Error).message}`);
        if (isUnreachable(error)) throw error;
      }
    }
    if (!sawDiscovery && !this.discoveryAsked && (await this.registry.publishPending())) {
      this.discoveryAsked = true;
      if (await conn.agent.requestDiscovery(signal)) void this.poller.pollNow();
      else this.log('the selection changed: it reaches the registry with the next discovery job');
    }
    await this.requests.reportPending(signal);
    this.o.debug?.(`poll ${poll}: ${jobs.length} job(s)`);
  }

  private async answerDiscovery(conn: Connection, job: AgentJob, signal: AbortSignal): Promise<void> {
    await conn.agent.lock(job.jobId, 60, signal);
    const result = await this.registry.discoveryResult();
    const before = this.registry.lastPublished?.cameras.map((c) => c.id).join(',');
    try {
      await conn.agent.complete(job.jobId, result, signal);
    } catch (error) {
      if (isConflict(error)) await conn.agent.fail(job.jobId, (error as Error).message, false, signal).catch(() => undefined);
      throw error;
    }
    await this.registry.markPublished(job.jobId, result, new Date(this.clock.now()));
    this.discoveryAsked = false;
    if (before !== result.cameras.map((c) => c.id).join(',')) {
      await this.record({
        type: 'registryPublished',
        summary: `Registry updated: ${result.cameras.length} camera(s) published to Clearance`,
        user: ROLE_ACTOR,
        cameras: result.cameras.map((c) => c.id),
        details: { jobId: job.jobId },
      });
    }
    this.o.debug?.(`registry: ${result.cameras.length} camera(s) published`);
  }

  private async answerThumbnail(conn: Connection, job: AgentJob, signal: AbortSignal): Promise<void> {
    const payload = job.payload as ThumbnailJobPayload;
    await conn.agent.lock(job.jobId, 120, signal);
    if (!(await this.registry.includes(payload.cameraId))) {
      await conn.agent.fail(job.jobId, `camera ${payload.cameraId} is not in the camera selection of this site`, false, signal);
      return;
    }
    const at = payload.timeUtc ? new Date(payload.timeUtc) : await this.latestRecordedMoment(payload.cameraId);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'clearance-thumbnail-'));
    try {
      const shot = at ? await this.o.site.snapshot(payload.cameraId, at, path.join(dir, 'thumbnail.jpg'), { signal }) : undefined;
      if (!shot || shot.status !== 'ok') {
        await conn.agent.fail(job.jobId, `no recording of camera ${payload.cameraId}${at ? ` at ${at.toISOString()}` : ''}`, false, signal);
        return;
      }
      const data = await fs.readFile(shot.file);
      if (Math.ceil(data.length / 3) * 4 > MAX_THUMBNAIL_BASE64) {
        await conn.agent.fail(job.jobId, `the image of camera ${payload.cameraId} is ${data.length} bytes, more than a thumbnail may be`, false, signal);
        return;
      }
      await conn.agent.complete(job.jobId, { mimeType: 'image/jpeg', dataBase64: data.toString('base64') }, signal);
      const camera = await this.o.site.getCamera(payload.cameraId);
      await this.record({
        type: 'snapshotSent',
        summary: `Thumbnail of ${camera?.name ?? payload.cameraId} at ${at!.toISOString()} sent to the registry`,
        user: ROLE_ACTOR,
        cameras: [payload.cameraId],
        files: [{ name: 'thumbnail.jpg', bytes: shot.bytes, sha256: shot.sha256 }],
        details: { jobId: job.jobId },
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  /** "Live" for a recording site: a moment just before the end of the last recording. */
  private async latestRecordedMoment(cameraId: string): Promise<Date | undefined> {
    const coverage = await this.o.site.listRecordings(cameraId);
    const last = coverage.segments.at(-1);
    if (!last) return undefined;
    const now = this.clock.now();
    const end = Math.min(now, last.end.getTime());
    return new Date(Math.max(last.start.getTime(), end - 1000));
  }

  // ---------------------------------------------------------------------------

  private async afterOpen(): Promise<void> {
    this.disposables.push(
      this.trail.onDidAppend((record) => this.events.fire({ kind: 'activity', record })),
      this.registry.onDidChange((e) => this.events.fire(e.kind === 'selection' ? { kind: 'selection', change: e.change } : { kind: 'published', published: e.published })),
      this.requests.onDidChange((event) => {
        this.events.fire({ kind: 'request', event });
        if (event.kind === 'received') void this.notify(event.request);
      }),
      this.uploads.onDidChange((event) => {
        this.events.fire({ kind: 'upload', event });
        if (event.kind === 'finished') void this.uploadFinished(event.job).catch((e: unknown) => this.log(`activity trail: ${(e as Error).message}`));
      }),
      this.poller.onDidChange(() => this.events.fire({ kind: 'connection', connection: this.connectionSnapshot(this.conn !== undefined || this.signedIn) })),
      this.accounts.onDidChange((change) => {
        this.conn?.tokens.dispose();
        this.conn = undefined;
        this.signedIn = false;
        this.events.fire({ kind: 'account', ...(change.current ? { account: change.current } : {}) });
      }),
    );
    if (this.activation.created) {
      await this.record({
        type: 'privilegesCreated',
        summary: `First activation: privileges created (${this.activation.privileges.map((p) => p.label).join(', ')})`,
        user: ROLE_ACTOR,
      });
    }
    const stored = (await this.roleState.get(PROPERTIES_KEY)) as RoleProperties | undefined;
    if (!stored) await this.roleState.set(PROPERTIES_KEY, this.props);
    else {
      const current = this.props;
      this.props = stored;
      await this.applyProperties(current, ROLE_ACTOR);
    }
    await this.reconcileUploadRecords();
  }

  private async importAccount(who: string, text: string, source?: string): Promise<ImportResult> {
    const previous = await this.accounts.current();
    const result = await this.accounts.importConnectionFile(text, source);
    if (result.ok) {
      await this.record({
        type: 'accountImported',
        summary: `Account ${result.account.accountId} connected (integration ${result.account.integrationName})${previous ? `, replacing ${previous.accountId}` : ''}`,
        user: who,
        details: {
          accountId: result.account.accountId,
          clientId: result.account.clientId,
          keyFingerprint: result.account.publicKeyFingerprint,
          ...(source ? { source: path.basename(source) } : {}),
        },
      });
    }
    return result;
  }

  /** Applies and records changed properties; answers the names of the fields that changed. */
  private async applyProperties(next: RoleProperties, who: string): Promise<string[]> {
    const before = this.props;
    const changed = diffProperties(before, next);
    if (changed.length === 0) return [];
    if (!(await this.roleState.set(PROPERTIES_KEY, next))) throw new Error('Could not save the role properties.');
    this.props = next;
    this.uploads.setThrottling(next.throttlingEnabled);
    this.bucket.setRateMbps(next.maximumBandwidthMbps);
    if (changed.some((f) => f.startsWith('proxy'))) {
      await this.http.reconfigure({ proxy: await proxyOf(next, this.o.secrets), ...(this.o.http?.extraCaFile ? { extraCaFile: this.o.http.extraCaFile } : {}) });
    }
    const details: Record<string, string | number | boolean> = {};
    for (const f of changed) {
      details[`${f}.before`] = String(readField(before, f));
      details[`${f}.after`] = String(readField(next, f));
    }
    await this.record({ type: 'configurationChanged', summary: `Role properties changed: ${changed.join(', ')}`, user: who, details });
    this.events.fire({ kind: 'properties', properties: next });
    if (changed.includes('pollingIntervalSeconds') && this.isRunning) void this.poller.pollNow();
    return changed;
  }

  private async selectionChanged(who: string, change: NonNullable<Awaited<ReturnType<CameraRegistry['add']>>>): Promise<void> {
    await this.record({
      type: 'cameraSelectionChanged',
      summary: `${change.kind === 'added' ? 'Added' : 'Removed'} ${change.entry.kind} "${change.name}" ${change.kind === 'added' ? 'to' : 'from'} the camera selection` +
        ` (${change.camerasAdded.length} camera(s) joined, ${change.camerasRemoved.length} left the registry set)`,
      user: who,
      cameras: change.kind === 'added' ? change.camerasAdded : change.camerasRemoved,
      details: { entryKind: change.entry.kind, entryId: change.entry.id },
    });
    this.discoveryAsked = false;
    if (this.isRunning) void this.poller.pollNow();
  }

  /** The operator export module does the work; the role adds the trail records. */
  private async operatorExport(who: SiteUser, media: OperatorExportMedia, input: { caseTarget?: CaseTarget; name?: string; description?: string }): Promise<UploadJobSnapshot> {
    const conn = await this.ensureConnection();
    let result;
    try {
      result = await exportToClearance(
        { site: this.o.site, queue: this.uploads, catalog: conn.documents, ...(this.o.maxExportPartMs ? { maxPartMs: this.o.maxExportPartMs } : {}) },
        {
          media,
          caseTarget: input.caseTarget ?? { kind: 'none' },
          userId: who.id,
          ...(input.name?.trim() ? { title: input.name.trim() } : {}),
          ...(input.description?.trim() ? { description: input.description.trim() } : {}),
        },
      );
    } catch (error) {
      if (isSiteError(error) || error instanceof OperatorExportError) {
        await this.record({ type: 'exportFailed', summary: `Export failed: ${error.message}`, user: who.name, cameras: media.cameraIds });
      }
      throw error;
    }
    const { job, cameras } = result;
    const what = media.kind === 'recordings' ? `${media.from.toISOString()} – ${media.to.toISOString()}` : `snapshot at ${media.at.toISOString()}`;
    const caseId = input.caseTarget?.kind === 'existing' ? { caseId: input.caseTarget.caseId } : {};
    let next = 0;
    for (const c of cameras) {
      const files = job.parts.slice(next, next + c.files).map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256 }));
      next += c.files;
      await this.record(
        c.status === 'unavailable'
          ? { type: 'exportFailed', summary: `No recording of ${c.cameraName} for ${what}`, user: who.name, cameras: [c.cameraId], ...caseId, details: { uploadJobId: job.id } }
          : {
              type: 'exportCompleted',
              summary: `Exported ${c.cameraName} ${what}: ${c.files} file(s)${c.gaps.length ? `, ${c.gaps.length} gap(s) without recording` : ''}`,
              user: who.name,
              cameras: [c.cameraId],
              ...caseId,
              files,
              details: { status: c.status, uploadJobId: job.id, media: media.kind },
            },
      );
    }
    await this.record({
      type: 'uploadQueued',
      summary: `Upload "${job.title}" queued: ${job.parts.length} file(s), ${job.totalBytes} bytes`,
      user: who.name,
      cameras: cameras.filter((c) => c.files > 0).map((c) => c.cameraId),
      ...caseId,
      files: job.parts.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256 })),
      details: { uploadJobId: job.id, caseTarget: input.caseTarget?.kind ?? 'none' },
    });
    return job;
  }

  private async resolveCameras(list: string[], field: string, issues: FieldIssue[]): Promise<Camera[]> {
    const model = await this.o.site.model();
    if (list.length === 0) issues.push({ field, message: 'choose at least one camera' });
    const out: Camera[] = [];
    list.forEach((c, i) => {
      const cam = model.cameras.find((x) => x.id === c) ?? model.cameras.find((x) => x.name === c);
      if (!cam) issues.push({ field: `${field}[${i}]`, message: `no camera ${JSON.stringify(c)} on this site` });
      else out.push(cam);
    });
    return out;
  }

  private async uploadFinished(job: UploadJobSnapshot): Promise<void> {
    const type = job.state === 'completed' ? 'uploadCompleted' : job.state === 'canceled' ? 'uploadCanceled' : 'uploadFailed';
    const request = job.videoRequestId ? this.requests.get(job.videoRequestId) : undefined;
    const camera = request?.cameras.find((c) => c.uploadJobId === job.id);
    await this.record({
      type,
      summary:
        type === 'uploadCompleted'
          ? `Upload "${job.title}" completed: ${job.parts.length} file(s), ${job.totalBytes} bytes, evidence ${job.evidenceId}`
          : type === 'uploadCanceled'
            ? `Upload "${job.title}" canceled`
            : `Upload "${job.title}" failed: ${job.error ?? 'unknown error'}`,
      user: request?.decidedBy ?? ROLE_ACTOR,
      ...(camera ? { cameras: [camera.id] } : {}),
      ...(job.videoRequestId ? { requestId: job.videoRequestId } : {}),
      ...(job.caseId ? { caseId: job.caseId } : {}),
      ...(job.evidenceId ? { evidenceId: job.evidenceId } : {}),
      files: job.parts.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256 })),
      details: { uploadJobId: job.id, state: job.state },
    });
  }

  /** A crash between an upload's end and its trail record: write the record now. */
  private async reconcileUploadRecords(): Promise<void> {
    const recorded = new Set(
      this.trail
        .query({ types: ['uploadCompleted', 'uploadCanceled', 'uploadFailed'] })
        .map((r) => `${r.details?.uploadJobId}:${r.details?.state ?? ''}`),
    );
    for (const job of this.uploads.snapshot()) {
      if ((job.state === 'completed' || job.state === 'canceled') && !recorded.has(`${job.id}:${job.state}`)) await this.uploadFinished(job);
    }
  }

  private async notify(request: VideoRequest): Promise<void> {
    try {
      const users = await this.notifications.recipients();
      this.events.fire({ kind: 'notification', request, users });
      this.log(
        `new video request ${short(request.requestId)} (${request.cameras.map((c) => c.name).join(', ')})` +
          (users.length ? `: notifying ${users.map((u) => u.name).join(', ')}` : ''),
      );
    } catch (error) {
      this.log(`request notifications: ${(error as Error).message}`);
    }
  }

  private connection(): Connection {
    if (this.conn) return this.conn;
    throw new AccountNotConnectedError();
  }

  /** Builds the service clients for the current account (after start or an account change). */
  private async connect(): Promise<Connection> {
    const account = await this.accounts.current();
    if (!account) throw new AccountNotConnectedError();
    const sts = account.baseAddresses.SecurityTokenServiceBaseAddresses[0];
    const api = account.baseAddresses.ApiBaseAddresses[0];
    if (!sts || !api) throw new Error('The account has no token service or API address: import its connection file again.');
    const tokens = new TokenProvider(this.http, TokenProvider.tokenUrlFor(sts), () => this.accounts.signingCredentials(), this.clock);
    const session = new ClearanceSession(this.http, tokens);
    const agent = new AgentClient(session, {
      apiBase: api,
      deviceServiceBase: account.baseAddresses.DeviceServiceBaseAddresses[0] ?? `${api.replace(/\/+$/, '')}/deviceservice/api/v1`,
      tenantId: account.accountId,
    });
    return { account, tokens, session, agent, documents: DocumentStoreClient.forAccount(session, account) };
  }

  private connectionSnapshot(hasAccount: boolean): ConnectionSnapshot {
    const poller = this.poller.snapshot;
    let state: ConnectionState;
    if (!hasAccount && !this.conn) state = 'notConnected';
    else if (this.status === 'stopped' || this.status === 'stopping') state = 'offline';
    else if (poller.consecutiveFailures > 0) state = 'unreachable';
    else if (!this.signedIn) state = 'signingIn';
    else state = 'online';
    const lastError = poller.lastError;
    return { state, signedIn: this.signedIn, poller, pollIntervalMs: this.pollIntervalMs, ...(lastError ? { lastError } : {}) };
  }

  private setStatus(status: RoleStatus): void {
    this.status = status;
    this.events.fire({ kind: 'status', status });
  }

  private async record(input: ActivityInput): Promise<ActivityRecord> {
    return this.trail.append(input);
  }

  private async userNames(ids: string[]): Promise<string[]> {
    return Promise.all(ids.map(async (id) => (await this.o.site.getUser(id))?.name ?? id));
  }

  /** The service clients, built when first needed after a start or an account change. */
  private async ensureConnection(): Promise<Connection> {
    this.conn ??= await this.connect();
    return this.conn;
  }
}

async function storedProperties(state: Keyv, stateDir: string): Promise<RoleProperties> {
  const checked = validateRoleProperties((await state.get(PROPERTIES_KEY)) ?? {}, { defaultArchiveFolder: path.join(stateDir, 'archive') });
  if (!checked.ok) throw new ValidationError('The stored role properties', checked.errors);
  return checked.value;
}

async function proxyOf(properties: RoleProperties, secrets: SecretStore): Promise<RoleProxy | undefined> {
  if (!properties.proxy.enabled) return undefined;
  const password = await secrets.get(PROXY_PASSWORD_SECRET_KEY);
  return { ...properties.proxy, ...(password ? { password } : {}) };
}

function diffProperties(a: RoleProperties, b: RoleProperties): string[] {
  const fields = ['pollingIntervalSeconds', 'archiveDestinationFolder', 'throttlingEnabled', 'maximumBandwidthMbps', 'proxy.enabled', 'proxy.host', 'proxy.port', 'proxy.username'];
  return fields.filter((f) => readField(a, f) !== readField(b, f));
}

function readField(p: RoleProperties, field: string): unknown {
  return field.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], p);
}

function sameAccount(a: AccountInfo, b: AccountInfo): boolean {
  return (
    a.clientId === b.clientId &&
    a.publicKeyFingerprint === b.publicKeyFingerprint &&
    a.disableEncryption === b.disableEncryption &&
    JSON.stringify(a.baseAddresses) === JSON.stringify(b.baseAddresses)
  );
}

/** The service cannot be reached (or is overloaded): the whole poll fails and the poller backs off. */
function isUnreachable(error: unknown): boolean {
  if (error instanceof NetworkError || error instanceof TimeoutError) return true;
  return error instanceof ServiceError && (error.status >= 500 || error.status === 429 || error.status === 401);
}

function toDate(value: string | Date | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

