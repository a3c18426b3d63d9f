// A video request as the role sees it, and the seven statuses of the plugin
// guide as an explicit state machine: an illegal transition is an error, never
// a silent change.
import type { MediaRequestJobResult, VideoRequestStatus } from '../clearance/api';

export interface ExportedFile {
  name: string;
  bytes: number;
  /** Lower-case hex SHA-256 of the plain file. */
  sha256: string;
}

export interface VideoRequestCamera {
  id: string;
  name: string;
  outcome?: 'Exported' | 'Unavailable' | 'Failed';
  message?: string;
  uploadJobId?: string;
  evidenceId?: string;
  /** The parts exported for this camera. */
  files?: ExportedFile[];
}

export interface VideoRequest {
  requestId: string;
  /** The agent job that carries it at the service. */
  jobId: string;
  cameras: VideoRequestCamera[];
  fromUtc: string;
  toUtc: string;
  incidentTimeUtc: string;
  comments: string;
  caseId: string | null;
  /** Who asked, as the service names them (absent from older services). */
  requester?: string;
  status: VideoRequestStatus;
  receivedAt: string;
  updatedAt: string;
  decidedBy?: string;
  denyReason?: string;
  error?: string;
  /** Cameras outside the registry selection: the request was refused for them. */
  refused?: boolean;
  /** Steps done and to do (export and upload per camera), reported to the service as task progress. */
  progress?: { done: number; total: number };
  /** The final result, kept until the service has acknowledged it (a crash or an outage may come between). */
  pendingResult?: MediaRequestJobResult;
}

const TRANSITIONS: Record<VideoRequestStatus, readonly VideoRequestStatus[]> = {
  // VideoUnavailable from Pending: an operator answers that the site has no recordings
  // to send, without exporting anything (the service sees Processing → VideoUnavailable:
  // the role holds the job). From Processing it is only the outcome of an export that
  // found nothing; the desk refuses the operator's answer there (markVideoUnavailable).
  Pending: ['Processing', 'Denied', 'VideoUnavailable', 'Canceled'],
  Processing: ['Completed', 'PartiallyCompleted', 'VideoUnavailable', 'Canceled'],
  Completed: [],
  PartiallyCompleted: [],
  Denied: [],
  Canceled: [],
  VideoUnavailable: [],
};

export const STATUS_LABELS: Record<VideoRequestStatus, string> = {
  Pending: 'Pending',
  Processing: 'Processing',
  Completed: 'Completed',
  PartiallyCompleted: 'Partially completed',
  Denied: 'Denied',
  Canceled: 'Canceled',
  VideoUnavailable: 'Video unavailable',
};

export class IllegalRequestTransition extends Error {
  constructor(
    readonly requestId: string,
    readonly from: VideoRequestStatus,
    readonly to: VideoRequestStatus,
  ) {
    super(`Video request ${requestId} is ${STATUS_LABELS[from]}; it cannot become ${STATUS_LABELS[to]}.`);
    this.name = 'IllegalRequestTransition';
  }
}

export function canTransition(from: VideoRequestStatus, to: VideoRequestStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Returns the request in its new status; throws IllegalRequestTransition otherwise. */
export function transition(request: VideoRequest, to: VideoRequestStatus, at: Date, changes: Partial<VideoRequest> = {}): VideoRequest {
  if (!canTransition(request.status, to)) throw new IllegalRequestTransition(request.requestId, request.status, to);
  return { ...request, ...changes, status: to, updatedAt: at.toISOString() };
}

export function isFinal(status: VideoRequestStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/**
 * Processing → Pending, the one move back: the service gives the job back after a
 * retryable failure (and a lapsed lease), and the role follows it. Not in the table
 * above: neither an operator nor the role's own outcome may choose it.
 */
export function giveBack(request: VideoRequest, at: Date, changes: Partial<VideoRequest> = {}): VideoRequest {
  if (request.status !== 'Processing') throw new IllegalRequestTransition(request.requestId, request.status, 'Pending');
  return { ...request, ...changes, status: 'Pending', updatedAt: at.toISOString() };
}

/**
 * How an approved request ends from its cameras' outcomes. VideoUnavailable only
 * when no camera has recordings in the range; 'Failed' when nothing was sent and
 * some export or upload failed: the recordings may exist, so it is no final
 * status but a failure to report (the request can be tried again).
 */
export function finalStatus(cameras: readonly VideoRequestCamera[]): 'Completed' | 'PartiallyCompleted' | 'VideoUnavailable' | 'Failed' {
  const exported = cameras.filter((c) => c.outcome === 'Exported').length;
  if (exported === cameras.length && exported > 0) return 'Completed';
  if (exported > 0) return 'PartiallyCompleted';
  if (cameras.every((c) => c.outcome === 'Unavailable')) return 'VideoUnavailable';
  return 'Failed';
}
