// The console's copy of the role's state: the snapshot a subscription starts
// from, with every numbered event applied in order. Trees, the status bar and
// webviews render it; only the role owns the truth. Each applied event says
// which parts changed, so a view refreshes only what it shows.
import type { ActivityRecord } from '../audit/activityTrail';
import { Emitter } from '../events';
import type { VideoRequest } from '../requests/videoRequest';
import type { RoleEvent, RoleSnapshot } from '../role/snapshot';
import type { UploadJobSnapshot } from '../uploads/uploadJob';

/** What the signed-in user may see of the role (role.snapshot leaves out the rest). */
export type VisibleSnapshot = Partial<RoleSnapshot> & Pick<RoleSnapshot, 'status' | 'site' | 'connection'>;

export type StatePart = 'status' | 'connection' | 'account' | 'properties' | 'registry' | 'requests' | 'uploads' | 'notificationUsers' | 'activities';

export interface StateChange {
  parts: ReadonlySet<StatePart>;
  /** Requests and uploads whose items changed (ids), for trees that refresh one item. */
  requestIds: readonly string[];
  uploadIds: readonly string[];
  /** The registry changed at the role: fetch it again (its tree is too large to send with every event). */
  registryStale: boolean;
  /** A new request the role asks these users to be told of. */
  notification?: { request: VideoRequest; userIds: string[] };
}

/** How many trail records the console keeps; older ones are paged in on demand. */
export const RECENT_ACTIVITY_LIMIT = 50;

export class ConsoleState {
  private readonly changes = new Emitter<StateChange>();
  readonly onDidChange = this.changes.event;
  private state: VisibleSnapshot;
  private readonly requestsById = new Map<string, VideoRequest>();
  private readonly uploadsById = new Map<string, UploadJobSnapshot>();
  private lastSeq: number;

  constructor(snapshot: VisibleSnapshot, seq: number) {
    this.state = snapshot;
    this.lastSeq = seq;
    for (const r of snapshot.requests ?? []) this.requestsById.set(r.requestId, r);
    for (const u of snapshot.uploads ?? []) this.uploadsById.set(u.id, u);
  }

  get seq(): number {
    return this.lastSeq;
  }

  /** The state now; requests and uploads as kept by id. */
  get snapshot(): VisibleSnapshot {
    return {
      ...this.state,
      ...(this.state.requests ? { requests: this.requests } : {}),
      ...(this.state.uploads ? { uploads: this.uploads } : {}),
    };
  }

  get requests(): VideoRequest[] {
    return [...this.requestsById.values()];
  }

  get uploads(): UploadJobSnapshot[] {
    return [...this.uploadsById.values()];
  }

  get pendingRequests(): number {
    return this.requests.filter((r) => r.status === 'Pending').length;
  }

  /** Applies event `seq`; a gap or a repeat is a bug in the caller (the client checks seqs) and throws. */
  apply(event: RoleEvent, seq: number): StateChange {
    if (seq !== this.lastSeq + 1) throw new Error(`event ${seq} does not follow ${this.lastSeq}: subscribe again`);
    this.lastSeq = seq;
    const change: StateChange & { parts: Set<StatePart>; requestIds: string[]; uploadIds: string[] } = {
      parts: new Set(),
      requestIds: [],
      uploadIds: [],
      registryStale: false,
    };
    const s = this.state;
    switch (event.kind) {
      case 'status':
        this.state = { ...s, status: event.status };
        change.parts.add('status');
        break;
      case 'connection':
        this.state = { ...s, connection: event.connection };
        change.parts.add('connection');
        break;
      case 'account': {
        const { account: _gone, ...rest } = s;
        this.state = event.account ? { ...rest, account: event.account } : rest;
        change.parts.add('account');
        break;
      }
      case 'properties':
        if (s.properties) {
          this.state = { ...s, properties: event.properties };
          change.parts.add('properties');
        }
        break;
      case 'selection':
        change.registryStale = s.registry !== undefined;
        break;
      case 'published':
        if (s.registry) {
          this.state = { ...s, registry: { ...s.registry, published: event.published } };
          change.parts.add('registry');
          change.registryStale = true;
        }
        break;
      case 'request':
        if (s.requests) {
          this.requestsById.set(event.event.request.requestId, event.event.request);
          change.parts.add('requests');
          change.requestIds.push(event.event.request.requestId);
        }
        break;
      case 'notification':
        change.notification = { request: event.request, userIds: event.users.map((u) => u.id) };
        break;
      case 'upload':
        if (s.uploads) {
          if (event.event.kind === 'removed') {
            this.uploadsById.delete(event.event.jobId);
            change.uploadIds.push(event.event.jobId);
          } else {
            this.uploadsById.set(event.event.job.id, event.event.job);
            change.uploadIds.push(event.event.job.id);
          }
          change.parts.add('uploads');
        }
        break;
      case 'notificationUsers':
        if (s.notificationUserIds) {
          this.state = { ...s, notificationUserIds: event.userIds };
          change.parts.add('notificationUsers');
        }
        break;
      case 'activity':
        if (s.activities) {
          const recent: ActivityRecord[] = [...s.activities.recent, event.record].slice(-RECENT_ACTIVITY_LIMIT);
          this.state = { ...s, activities: { count: s.activities.count + 1, recent } };
          change.parts.add('activities');
        }
        break;
    }
    this.changes.fire(change);
    return change;
  }

  /** A registry fetched again after `registryStale`. */
  replaceRegistry(registry: NonNullable<RoleSnapshot['registry']>): void {
    if (!this.state.registry) return;
    this.state = { ...this.state, registry };
    this.changes.fire({ parts: new Set(['registry']), requestIds: [], uploadIds: [], registryStale: false });
  }

  dispose(): void {
    this.changes.dispose();
  }
}
