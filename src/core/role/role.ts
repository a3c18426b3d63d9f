// The Role engine: the one object the VS Code console and the headless runner
// drive. They render its snapshots, listen to its events and call its commands.
// Every command names the site user who asks and passes the one privilege
// check, then hands the work to the part that does it (the account, the
// properties, the registry, the request desk, the upload queue, operator
// exports); every change is recorded in the trail by the activity recorder.
import type { ActivitySearch, ActivitySearchResult, DailyUploads, DailyUploadsQuery } from '../audit/activitySearch';
import { activitiesToCsv, type ActivityQuery, type ActivityRecord, type ActivityTrail, type TrailVerification } from '../audit/activityTrail';
import { renderCustodyReportHtml, type CustodyReport } from '../audit/custodyReport';
import { AccountNotConnectedError, type AccountStore, type ImportResult } from '../config/accountStore';
import type { AccountInfo } from '../config/connectionFile';
import { ValidationError } from '../config/fieldErrors';
import { allowedActions, checkPrivilege, findSiteUser, type RoleAction } from '../config/privileges';
import type { RoleProperties } from '../config/roleProperties';
import { Emitter, type Disposable } from '../events';
import type { CameraRegistry } from '../registry/cameraRegistry';
import type { SelectionEntry } from '../registry/registrySelection';
import type { RequestNotifications } from '../requests/requestNotifications';
import type { ReviewClip } from '../requests/requestReviews';
import type { VideoRequest } from '../requests/videoRequest';
import type { VideoRequestDesk } from '../requests/videoRequestDesk';
import type { SiteUser } from '../site/model';
import type { UploadJobSnapshot } from '../uploads/uploadJob';
import type { UploadQueue } from '../uploads/uploadQueue';
import type { OperatorExportInput, SnapshotExportInput } from './operatorExports';
import { NO_HOST, RoleCommands } from './commands';
import { buildCustodyReport, type CustodySubject } from './custodyReports';
import { relayRoleEvents } from './roleEvents';
import { checkTrailAnchors, type TrailAnchorCheck } from './trailAnchors';
import { RoleQueries } from './roleQueries';
import { closeRoleParts, openRoleParts, type RoleOptions, type RoleParts } from './roleWiring';
import type { ConnectionSnapshot, RoleEvent, RoleSnapshot, RoleStatus, UserView } from './snapshot';

export type { OperatorExportInput, RoleOptions, SnapshotExportInput };
export type { PublicRoleState } from './roleQueries';
export type { TrailAnchorCheck } from './trailAnchors';

/** activities.verify: the local check of the trail (TrailVerification), and its check against the service's anchors. */
export interface RoleTrailVerification extends TrailVerification {
  anchors: TrailAnchorCheck;
}

const RECENT_ACTIVITIES = 50;



export class Role {
  private readonly events = new Emitter<RoleEvent>();
  /** Every change, for trees and webviews to render again. */
  readonly onDidChange = this.events.event;
  private status: RoleStatus = 'stopped';
  private readonly disposables: Disposable[] = [];
  private closed = false;
  private readonly commands: RoleCommands;
  /** Read-only views for the command table (which has checked who asks) and the runner. */
  readonly read: RoleQueries;
  /** Trail records that existed before this role opened (the ones after are this run's). */
  readonly recordsBeforeOpen: number;
  private readonly accounts: AccountStore;
  private readonly trail: ActivityTrail;
  private readonly registry: CameraRegistry;
  private readonly notifications: RequestNotifications;
  private readonly uploads: UploadQueue;
  private readonly requests: VideoRequestDesk;

  private constructor(
    private readonly o: RoleOptions,
    private readonly parts: RoleParts,
  ) {
    this.accounts = parts.accounts;
    this.trail = parts.trail;
    this.registry = parts.registry;
    this.notifications = parts.notifications;
    this.uploads = parts.uploads;
    this.requests = parts.requests;
    this.recordsBeforeOpen = this.trail.records().length;
    this.read = new RoleQueries(o.site, parts, {
      status: () => this.status,
      connectionSnapshot: (hasAccount) => this.connectionSnapshot(hasAccount),
      recordsBeforeOpen: this.recordsBeforeOpen,
    });
    this.commands = new RoleCommands(this, parts.sessions, o.host ?? NO_HOST);
  }

  /**
   * Opens the role: takes the site lock, opens its state, creates the role's
   * privileges on the first activation, and records changed properties. Nothing
   * talks to the service until start().
   */
  static open(options: RoleOptions): Promise<Role> {
    return openRoleParts(options, async (parts) => {
      const role = new Role(options, parts);
      await role.afterOpen();
      return role;
    });
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
      await this.parts.account.ensureConnection();
    } catch (error) {
      this.setStatus('stopped');
      throw error;
    }
    this.parts.account.forgetSignIn();
    this.parts.dispatcher.askDiscoveryAgain();
    await this.parts.recorder.roleStarted(this.o.site.description, account.accountId, this.pollIntervalMs);
    this.uploads.start();
    this.requests.start();
    this.parts.poller.start();
    this.setStatus('running');
  }

  /** Stops cleanly: the poll in flight is aborted, work in flight stops where it can resume. */
  async stop(): Promise<void> {
    if (this.status !== 'running' && this.status !== 'starting') return;
    this.setStatus('stopping');
    await this.parts.poller.stop();
    await this.requests.stop();
    await this.uploads.stop();
    await this.parts.recorder.roleStopped();
    this.setStatus('stopped');
  }

  /** Stops, releases the site lock and closes the state. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.stop();
    this.closed = true;
    for (const d of this.disposables) d.dispose();
    await closeRoleParts(this.parts);
    this.events.dispose();
  }

  get isRunning(): boolean {
    return this.status === 'running';
  }

  get pollIntervalMs(): number {
    return this.parts.settings.pollIntervalMs;
  }

  get properties(): RoleProperties {
    return this.parts.settings.current;
  }

  // ---------------------------------------------------------------------------
  // Snapshots and privileges

  async snapshot(recent = RECENT_ACTIVITIES): Promise<RoleSnapshot> {
    const model = await this.o.site.model();
    const account = await this.accounts.current();
    const records = this.trail.records();
    return {
      status: this.status,
      site: { name: model.name, description: this.o.site.description },
      ...(account ? { account } : {}),
      properties: this.parts.settings.current,
      connection: this.connectionSnapshot(account !== undefined),
      registry: await this.registry.snapshot(),
      requests: this.requests.list(),
      uploads: this.uploads.snapshot(),
      notificationUserIds: [...this.notifications.userIds],
      activities: { count: records.length, recent: records.slice(-recent) },
      privileges: { activatedAt: this.parts.activation.activatedAt, definitions: this.parts.activation.privileges },
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

  private async selectionChanged(who: string, change: NonNullable<Awaited<ReturnType<CameraRegistry['add']>>>): Promise<void> {
    await this.parts.recorder.selectionChanged(who, change);
    this.parts.dispatcher.askDiscoveryAgain();
    if (this.isRunning) void this.parts.poller.pollNow();
  }

  // ---------------------------------------------------------------------------
  // Commands: video requests

  async approveRequest(user: string, requestId: string): Promise<VideoRequest> {
    const who = await this.authorize(user, 'decideRequest');
    await this.parts.account.ensureConnection(); // the work needs the service even while polling is stopped
    return this.requests.approve(requestId, who);
  }

  async denyRequest(user: string, requestId: string, reason: string): Promise<VideoRequest> {
    const who = await this.authorize(user, 'decideRequest');
    await this.parts.account.ensureConnection();
    return this.requests.deny(requestId, who, reason);
  }

  /**
   * Answers a Pending request "video unavailable": nothing is exported; every camera is
   * Unavailable with the reason (or a default), and the service is told. Refused
   * (IllegalRequestTransition) from any other status.
   */
  async markVideoUnavailable(user: string, requestId: string, reason?: string): Promise<VideoRequest> {
    const who = await this.authorize(user, 'decideRequest');
    await this.parts.account.ensureConnection();
    return this.requests.markVideoUnavailable(requestId, who, reason);
  }

  /**
   * Cuts (or finds) the review clip of one camera of a Pending or Processing request
   * over its range, and records the review: see RequestReviews.
   */
  async reviewRequestClip(user: string, requestId: string, cameraId: string): Promise<ReviewClip> {
    const who = await this.authorize(user, 'viewRequests');
    return this.parts.reviews.review(requestId, cameraId, who);
  }

  /** Resolves once the request is final and its result is at the service. */
  whenRequestSettled(requestId: string): Promise<VideoRequest> {
    return this.requests.whenSettled(requestId);
  }

  /** Polls now; resolves after that poll. */
  async pollNow(user: string): Promise<void> {
    await this.authorize(user, 'viewRequests');
    await this.parts.poller.pollNow();
  }

  // ---------------------------------------------------------------------------
  // Commands: operator export and uploads

  /** Exports recordings of one or more cameras for one synchronised time range, as one evidence item. */
  async exportVideo(user: string, input: OperatorExportInput): Promise<UploadJobSnapshot> {
    return this.parts.exports.exportVideo(await this.checkedUser(user, 'sendEvidence'), input);
  }

  /** Sends a still image of each camera at one instant, as one evidence item. */
  async sendSnapshot(user: string, input: SnapshotExportInput): Promise<UploadJobSnapshot> {
    return this.parts.exports.sendSnapshot(await this.checkedUser(user, 'sendSnapshot'), input);
  }

  async pauseUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.pause(id);
  }

  async resumeUpload(user: string, id: string): Promise<void> {
    await this.authorize(user, 'sendEvidence');
    await this.uploads.resume(id);
  }

  /** Pauses every queued or running upload, each as pauseUpload does; answers how many were paused. */
  async pauseAllUploads(user: string): Promise<number> {
    await this.authorize(user, 'sendEvidence');
    return this.uploads.pauseAll();
  }

  /** Resumes every paused upload, each as resumeUpload does; answers how many. */
  async resumeAllUploads(user: string): Promise<number> {
    await this.authorize(user, 'sendEvidence');
    return this.uploads.resumeAll();
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
  // Commands: configuration and account

  /** Changes role properties (a partial set); bad input changes nothing and names every field. */
  async setProperties(user: string, changes: Record<string, unknown>): Promise<{ changed: string[]; warnings: string[] }> {
    return this.parts.settings.change(await this.authorize(user, 'changeConfiguration'), changes);
  }

  /**
   * The proxy password goes to the SecretStore, never to the properties or the trail.
   * A bad one is refused (field proxy.password) and nothing is stored.
   */
  async setProxyPassword(user: string, password: string | undefined): Promise<void> {
    await this.parts.settings.setProxyPassword(await this.authorize(user, 'changeConfiguration'), password);
  }

  /**
   * The headless runner's own proxy password (its --proxy-password-file): stored when it
   * differs from the one kept. Not a user command: no site privilege applies.
   */
  adoptProxyPassword(password: string): Promise<{ changed: boolean }> {
    return this.parts.settings.adoptProxyPassword('headless runner', password);
  }

  async setNotificationUsers(user: string, users: string[]): Promise<string[]> {
    const who = await this.authorize(user, 'changeConfiguration');
    const { before, after } = await this.notifications.set(users);
    await this.parts.recorder.notificationUsersChanged(who, before, after, after.length ? await this.userNames(after) : []);
    this.events.fire({ kind: 'notificationUsers', userIds: after });
    return after;
  }

  /** Imports a connection file (replacing the account); the role reconnects with it. */
  async importConnectionFile(user: string, text: string, source?: string): Promise<ImportResult> {
    return this.parts.account.importConnectionFile(await this.authorize(user, 'changeConfiguration'), text, source);
  }

  async disconnectAccount(user: string): Promise<void> {
    const who = await this.authorize(user, 'changeConfiguration');
    await this.stop();
    await this.parts.account.disconnect(who);
  }

  /**
   * The headless runner's own configuration (its --connection file): imported only when
   * it differs from the current account. Not a user command: no site privilege applies.
   */
  adoptConnectionFile(text: string, source?: string): Promise<{ imported: boolean; account: AccountInfo }> {
    return this.parts.account.adoptConnectionFile(text, source);
  }

  // ---------------------------------------------------------------------------
  // Commands: activity trail

  async queryActivities(user: string, query: ActivityQuery = {}): Promise<ActivityRecord[]> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.query(query);
  }

  /**
   * The hash chain of the trail file and its head (ok, records, problems: the local
   * check, whatever the service answers), and the trail against the anchors the
   * service keeps with the role's evidence (`anchors`).
   */
  async verifyTrail(user: string): Promise<RoleTrailVerification> {
    await this.authorize(user, 'viewConfiguration');
    const local = await this.trail.verify();
    const anchors = await checkTrailAnchors({
      records: () => this.trail.records(),
      recordsOnDisk: async (seqs) => (await this.trail.verifyRecords(seqs)).records,
      jobs: () => this.uploads.snapshot(),
      documents: async () => (await this.parts.account.ensureConnection()).documents,
    });
    return { ...local, anchors };
  }

  /** A filtered, sorted page of the trail and how many records match. */
  async searchActivities(user: string, search: ActivitySearch = {}): Promise<ActivitySearchResult> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.search(search);
  }

  /** Completed uploads and their bytes per local day. */
  async dailyUploads(user: string, query: DailyUploadsQuery = {}): Promise<DailyUploads[]> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.dailyUploads(query);
  }

  /** The chain-of-custody report of one request or evidence item, as data and as a self-contained HTML document. */
  async custodyReport(user: string, subject: CustodySubject): Promise<{ json: CustodyReport; html: string }> {
    const who = await this.authorize(user, 'viewConfiguration');
    const json = await buildCustodyReport(
      {
        trail: this.trail,
        requests: this.requests,
        uploads: this.uploads,
        siteName: async () => (await this.o.site.model()).name,
        accountId: async () => (await this.accounts.current())?.accountId,
        documents: async () => (await this.parts.account.ensureConnection()).documents,
        now: () => new Date(this.parts.clock.now()),
      },
      subject,
      who,
    );
    return { json, html: renderCustodyReportHtml(json) };
  }

  async exportActivitiesCsv(user: string, query: ActivityQuery = {}): Promise<string> {
    await this.authorize(user, 'viewConfiguration');
    return activitiesToCsv(this.trail.query(query));
  }

  // ---------------------------------------------------------------------------

  // ---------------------------------------------------------------------------
  // The one way in for consoles, the control socket and the CLI

  /** Runs a command of the command table: checks the session, then the privilege, then the arguments. */
  execute(command: string, args: unknown, session: string | undefined, client: string): Promise<unknown> {
    return this.commands.execute(command, args, session, client);
  }

  // ---------------------------------------------------------------------------
  // What tests and the command table read beyond `read`

  request(requestId: string): VideoRequest | undefined {
    return this.requests.get(requestId);
  }

  upload(id: string): UploadJobSnapshot | undefined {
    return this.uploads.get(id);
  }

  get uploadsThrottled(): boolean {
    return this.uploads.isThrottled;
  }

  /** Every trail record, or those matching `query` (consoles page with activityPage). */
  activities(query?: ActivityQuery): readonly ActivityRecord[] {
    return query ? this.trail.query(query) : this.trail.records();
  }

  /** Asks the service now whether the requests in hand are still wanted (the poll does it on its own). */
  renewLeases(): Promise<void> {
    return this.requests.renewLeases(undefined, true);
  }

  /** Removes completed and canceled uploads from the list (their trail records stay). */
  async clearFinishedUploads(user: string): Promise<number> {
    await this.authorize(user, 'sendEvidence');
    return this.uploads.clearFinished();
  }

  /** The trail page by page, newest first: see ActivityTrail.page. */
  async activityPage(user: string, before: number | undefined, limit: number): Promise<ReturnType<ActivityTrail['page']>> {
    await this.authorize(user, 'viewConfiguration');
    return this.trail.page(before, limit);
  }

  recordRefusal(user: string, command: string, message: string): Promise<unknown> {
    return this.parts.recorder.commandRefused(user, command, message);
  }

  private async afterOpen(): Promise<void> {
    const sink = { fire: (e: RoleEvent) => this.events.fire(e), isRunning: () => this.isRunning, connectionSnapshot: (has: boolean) => this.connectionSnapshot(has) };
    this.disposables.push(...relayRoleEvents(this.parts, sink));
    if (this.parts.activation.created) await this.parts.recorder.privilegesCreated(this.parts.activation.privileges);
    await this.parts.settings.restore();
    await this.parts.recorder.uploadsNotRecorded(this.uploads.snapshot(), this.requests);
  }

  private connectionSnapshot(hasAccount: boolean): ConnectionSnapshot {
    return this.parts.account.connectionSnapshot(hasAccount, this.status, this.parts.poller.snapshot, this.pollIntervalMs);
  }

  private setStatus(status: RoleStatus): void {
    this.status = status;
    this.events.fire({ kind: 'status', status });
  }

  private async userNames(ids: string[]): Promise<string[]> {
    return Promise.all(ids.map(async (id) => (await this.o.site.getUser(id))?.name ?? id));
  }
}
