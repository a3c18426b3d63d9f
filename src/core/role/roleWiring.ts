// How a role is put together when it opens: the site lock, the state journal
// and its namespaces, the activity trail, the account store, the HTTP client
// and bandwidth limit, the upload queue, the registry, the request desk, the
// privileges, and the controllers and poller over them, in the order each
// needs the others. The queue, the desk and the exports reach the service
// through the account's connection, which exists only once the role has
// started. If any step fails, the journal and the lock are let go.
import { SiteSessions } from '../auth/siteSessions';
import { migrateState, type Migration } from '../store/stateVersion';
import type { RoleHost } from './commands';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import Keyv from 'keyv';
import { ActivityTrail } from '../audit/activityTrail';
import { BlobClient } from '../clearance/blobClient';
import { ACCOUNT_NAMESPACE, AccountStore } from '../config/accountStore';
import { roleStateFileFor } from './roleFolders';
import { ValidationError } from '../config/fieldErrors';
import { activateRolePrivileges, type PrivilegeActivation } from '../config/privileges';
import { prepareArchiveFolder, validateRoleProperties, type RoleProperties } from '../config/roleProperties';
import type { SecretStore } from '../config/secretStore';
import { TokenBucket } from '../net/bandwidth';
import { systemClock, type Clock } from '../net/clock';
import { HttpClient, type HttpClientOptions } from '../net/httpClient';
import { CameraRegistry } from '../registry/cameraRegistry';
import { Poller } from '../requests/poller';
import { RequestNotifications } from '../requests/requestNotifications';
import { RequestReviews, reviewFolderFor } from '../requests/requestReviews';
import { VideoRequestDesk } from '../requests/videoRequestDesk';
import type { Site } from '../site/model';
import { JournalStore } from '../store/journalStore';
import { UploadQueue } from '../uploads/uploadQueue';
import { AccountController } from './accountController';
import { ActivityRecorder } from './activityRecorder';
import { JobDispatcher } from './jobDispatcher';
import { OperatorExports } from './operatorExports';
import { PropertiesController, proxyOf, storedProperties } from './propertiesController';
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
  /** What the process hosting the role offers (the runner: stop, its log). */
  host?: RoleHost;
}

/** What a role is made of, built and not yet started. */
export interface RoleParts {
  clock: Clock;
  log: (line: string) => void;
  lock: SiteLock | undefined;
  journal: JournalStore;
  /** The role's own namespace of the journal (properties, registry, requests, privileges). */
  trail: ActivityTrail;
  recorder: ActivityRecorder;
  accounts: AccountStore;
  account: AccountController;
  settings: PropertiesController;
  http: HttpClient;
  uploads: UploadQueue;
  registry: CameraRegistry;
  notifications: RequestNotifications;
  requests: VideoRequestDesk;
  /** Review clips of requests (<stateDir>/review). */
  reviews: RequestReviews;
  exports: OperatorExports;
  dispatcher: JobDispatcher;
  poller: Poller;
  activation: PrivilegeActivation;
  /** Signed-in site users (their own journal, sessions.jsonl). */
  sessions: SiteSessions;
}

/** Layout changes of role-state.jsonl, oldest first; its version is their count. 1: versions are kept. */
const ROLE_STATE_MIGRATIONS: readonly Migration[] = [async () => undefined];

/**
 * Builds the parts, then `compose` makes the role of them; a failure in either
 * closes the journal and releases the lock. Nothing talks to the service here.
 */
export async function openRoleParts<T>(options: RoleOptions, compose: (parts: RoleParts) => Promise<T>): Promise<T> {
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
  let sessions: SiteSessions | undefined;
  try {
    journal = new JournalStore({ path: roleStateFileFor(options.stateDir), now: () => clock.now() });
    if (journal.openReport.tornTail) log('role state: dropped a torn last write from a crash');
    const roleState = new Keyv({ store: journal, namespace: 'role' });
    // Before anything reads the state: refuse a newer layout, migrate an older one.
    await migrateState(roleState, journal.path, ROLE_STATE_MIGRATIONS);
    const properties = options.properties ?? (await storedProperties(roleState, options.stateDir));
    const accountState = new Keyv({ store: journal.view(), namespace: ACCOUNT_NAMESPACE });
    const uploadState = new Keyv({ store: journal.view(), namespace: 'uploads' });
    const trail = await ActivityTrail.open(path.join(options.stateDir, 'trail'), () => new Date(clock.now()));
    const recorder = new ActivityRecorder(trail);
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
    const account = new AccountController({ accounts, http, clock, recorder });
    const connection = () => account.connection();
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
      // Each evidence item carries the trail head of its creation (verify checks the trail against it).
      anchor: () => {
        const last = trail.records().at(-1);
        return last ? { seq: last.seq, hash: last.hash } : undefined;
      },
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
      recorder,
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
    const reviews = new RequestReviews({ folder: reviewFolderFor(options.stateDir), site: options.site, requests, recorder, clock, log });
    const swept = await reviews.sweep();
    if (swept) log(`review clips: deleted those of ${swept} request(s) that are final`);
    const settings = new PropertiesController(
      {
        state: roleState,
        secrets: options.secrets,
        http,
        ...(options.http?.extraCaFile ? { extraCaFile: options.http.extraCaFile } : {}),
        bucket,
        uploads,
        recorder,
        log,
        ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
      },
      properties,
    );
    const exports = new OperatorExports({
      site: options.site,
      uploads,
      connection: () => account.ensureConnection(),
      recorder,
      ...(options.maxExportPartMs ? { maxExportPartMs: options.maxExportPartMs } : {}),
    });
    const dispatcher = new JobDispatcher({
      account,
      registry,
      requests,
      site: options.site,
      clock,
      recorder,
      pollNow: () => void poller.pollNow(),
      log,
      ...(options.debug ? { debug: options.debug } : {}),
    });
    const poller = new Poller({ intervalMs: () => settings.pollIntervalMs, tick: (signal, poll) => dispatcher.tick(signal, poll), clock });
    // An upload acknowledged while the poller backs off: the service is back, so poll now
    // rather than at the end of a back-off of minutes.
    uploads.onDidChange((e) => {
      if ((e.kind === 'progress' || (e.kind === 'finished' && e.job.state === 'completed')) && poller.snapshot.state === 'backingOff') void poller.pollNow();
    });
    const activation = await activateRolePrivileges(roleState, options.site, new Date(clock.now()));
    sessions = await SiteSessions.open({ stateDir: options.stateDir, site: options.site, now: () => clock.now(), onEvent: (e) => recorder.sessionEvent(e) });
    return await compose({ clock, log, lock, journal, trail, recorder, accounts, account, settings, http, uploads, registry, notifications, requests, reviews, exports, dispatcher, poller, activation, sessions });
  } catch (error) {
    await sessions?.close().catch(() => undefined);
    await journal?.disconnect().catch(() => undefined);
    await lock?.release();
    throw error;
  }
}

/** Lets go of what openRoleParts built: the account's clients, the parts, the HTTP client, the journal, the lock. */
export async function closeRoleParts(parts: RoleParts): Promise<void> {
  parts.account.close();
  parts.poller.dispose();
  parts.settings.dispose();
  await parts.reviews.close();
  parts.requests.dispose();
  parts.uploads.dispose();
  parts.registry.dispose();
  parts.trail.dispose();
  parts.accounts.dispose();
  parts.http.close();
  await parts.sessions.close();
  await parts.journal.disconnect();
  await parts.lock?.release();
}
