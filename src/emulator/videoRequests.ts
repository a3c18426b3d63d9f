// The video request life cycle (statuses [doc], transitions [ours]; docs/clearance-api.md §1.8).
import type { VideoRequest, VideoRequestStatus } from '../core/clearance/api';
import { HttpError } from './http';

/** Allowed moves; a status not listed as a source is final. */
export const VIDEO_REQUEST_TRANSITIONS: Readonly<Record<VideoRequestStatus, readonly VideoRequestStatus[]>> = {
  // An agent locks the job (Processing); the requester may cancel; the site may deny outright.
  Pending: ['Processing', 'Denied', 'Canceled'],
  // Back to Pending when the agent's lease lapses or it fails with a retryable reason.
  Processing: ['Pending', 'Completed', 'PartiallyCompleted', 'VideoUnavailable', 'Denied', 'Canceled'],
  Completed: [],
  PartiallyCompleted: [],
  VideoUnavailable: [],
  Denied: [],
  Canceled: [],
};

export function isFinal(status: VideoRequestStatus): boolean {
  return VIDEO_REQUEST_TRANSITIONS[status].length === 0;
}

/** Moves the request to `to` (mutating it); 409 with the reason when not allowed. */
export function transition(request: VideoRequest, to: VideoRequestStatus, at: Date, reason?: string): VideoRequest {
  const from = request.status;
  if (!VIDEO_REQUEST_TRANSITIONS[from].includes(to)) {
    const allowed = VIDEO_REQUEST_TRANSITIONS[from];
    throw new HttpError(
      409,
      'illegal_transition',
      `video request ${request.requestId} cannot move from ${from} to ${to}` +
        (allowed.length ? ` (allowed: ${allowed.join(', ')})` : ` (${from} is final)`),
    );
  }
  request.status = to;
  request.updatedUtc = at.toISOString();
  request.history.push(reason ? { status: to, atUtc: request.updatedUtc, reason } : { status: to, atUtc: request.updatedUtc });
  return request;
}
