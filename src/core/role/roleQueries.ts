// What the role shows when asked: read-only views over its parts, for the
// command table (which has checked who asks) and for the runner. Nothing here
// changes state, so the façade stays short and every mutation stays in role.ts.
import type { ActivityRecord } from '../audit/activityTrail';
import type { AccountInfo } from '../config/connectionFile';
import { ValidationError } from '../config/fieldErrors';
import { findSiteUser } from '../config/privileges';
import type { CameraRegistrySnapshot } from '../registry/cameraRegistry';
import type { SelectionEntry, SelectionKind } from '../registry/registrySelection';
import type { VideoRequest } from '../requests/videoRequest';
import type { Site, SiteModel, SiteUser } from '../site/model';
import type { UploadJobSnapshot } from '../uploads/uploadJob';
import type { RoleParts } from './roleWiring';
import type { ConnectionSnapshot, RoleStatus } from './snapshot';

/** What anyone who can reach the role may see: what a sign-in box needs. */
export interface PublicRoleState {
  status: RoleStatus;
  connection: ConnectionSnapshot['state'];
  accountId: string | null;
  site: { name: string };
  pollIntervalMs: number;
  registryCameras: number;
}

/** What only the façade knows: its status and the live connection snapshot. */
export interface RoleLiveState {
  status(): RoleStatus;
  connectionSnapshot(hasAccount: boolean): ConnectionSnapshot;
  recordsBeforeOpen: number;
}

export class RoleQueries {
  constructor(
    private readonly site: Site,
    private readonly parts: RoleParts,
    private readonly live: RoleLiveState,
  ) {}

  async publicState(): Promise<PublicRoleState> {
    const model = await this.site.model();
    const account = await this.parts.accounts.current();
    return {
      status: this.live.status(),
      connection: this.live.connectionSnapshot(account !== undefined).state,
      accountId: account?.accountId ?? null,
      site: { name: model.name },
      pollIntervalMs: this.parts.settings.pollIntervalMs,
      registryCameras: (await this.parts.registry.effectiveCameras()).length,
    };
  }

  /** The site users' names, for a sign-in box (no privileges, no hashes). */
  async siteUserNames(): Promise<{ id: string; name: string; displayName: string }[]> {
    return (await this.site.listUsers()).map((u) => ({ id: u.id, name: u.name, displayName: u.displayName }));
  }

  siteUsers(): Promise<SiteUser[]> {
    return this.site.listUsers();
  }

  /** A site user by id or login name; an unknown one is a field error. */
  async siteUser(idOrName: string): Promise<SiteUser> {
    const found = await findSiteUser(this.site, idOrName);
    if (!found) throw new ValidationError('The user', [{ field: 'user', message: `no site user ${JSON.stringify(idOrName)}` }]);
    return found;
  }

  async hasPassword(userId: string): Promise<boolean> {
    return (await this.site.passwordHash(userId)) !== undefined;
  }

  account(): Promise<AccountInfo | undefined> {
    return this.parts.accounts.current();
  }

  hasProxyPassword(): Promise<boolean> {
    return this.parts.settings.hasProxyPassword();
  }

  notificationUserIds(): string[] {
    return [...this.parts.notifications.userIds];
  }

  /** Federations, areas and cameras (no users): what a camera tree shows. */
  async cameraModel(): Promise<Pick<SiteModel, 'name' | 'federations' | 'areas' | 'cameras'>> {
    const { name, federations, areas, cameras } = await this.site.model();
    return { name, federations, areas, cameras };
  }

  registrySnapshot(): Promise<CameraRegistrySnapshot> {
    return this.parts.registry.snapshot();
  }

  resolveSelectionEntry(kind: SelectionKind, text: string): Promise<SelectionEntry> {
    return this.parts.registry.resolveEntry(kind, text);
  }

  listRequests(): VideoRequest[] {
    return this.parts.requests.list();
  }

  resolveRequest(text: string): string {
    return this.parts.requests.resolve(text);
  }

  knowsRequest(text: string): boolean {
    return this.parts.requests.knows(text);
  }

  /** The request and its status history: the trail's records of it, oldest first. */
  requestDetails(requestId: string): { request: VideoRequest; history: ActivityRecord[] } {
    const request = this.parts.requests.get(requestId);
    if (!request) throw new ValidationError('The request', [{ field: 'request', message: `no video request ${JSON.stringify(requestId)} has reached this role` }]);
    return { request, history: this.parts.trail.records().filter((r) => r.requestId === requestId) };
  }

  listUploads(): UploadJobSnapshot[] {
    return this.parts.uploads.snapshot();
  }

  whenUploadSettled(id: string): Promise<UploadJobSnapshot> {
    return this.parts.uploads.whenSettled(id);
  }

  async departments(): Promise<unknown[]> {
    return (await this.parts.account.ensureConnection()).documents.listDepartments();
  }

  async categories(): Promise<unknown[]> {
    return (await this.parts.account.ensureConnection()).documents.listCategories();
  }

  /** The open cases this integration may see (for "add to an existing case"): id, name, state. */
  async cases(): Promise<{ caseId: string; name: string; state: string }[]> {
    const cases = await (await this.parts.account.ensureConnection()).documents.listCases();
    return cases.map((c) => ({ caseId: c.CaseId, name: c.Name, state: c.State }));
  }

  /** The records this run wrote so far (the runner logs them at start). */
  activitiesSinceOpen(): readonly ActivityRecord[] {
    return this.parts.trail.records().slice(this.live.recordsBeforeOpen);
  }
}
