// Verify's second half: the activity trail against the anchors the service keeps.
// Each evidence item the role created carries the trail head of that moment in its
// custom fields (uploads/evidenceAnchor.ts). A trail rewritten from the start, with
// its head, passes the hash chain; it cannot match those anchors, unless its
// records up to each anchor are the very ones that were there. The service being
// out of reach leaves anchors unchecked and says so; it never fails the local check.
import type { ActivityRecord, RecordCheck } from '../audit/activityTrail';
import type { Evidence } from '../clearance/api';
import { gotNoAnswer, ServiceError } from '../net/errors';
import { anchorOfFields, type EvidenceAnchor } from '../uploads/evidenceAnchor';
import type { UploadJobSnapshot } from '../uploads/uploadJob';

/** Evidence items asked of the service per verify at most (the ones with the newest anchors first). */
export const MAX_ANCHORS_CHECKED = 20;
/** Evidence reads in flight at once. */
export const ANCHOR_READS_IN_FLIGHT = 4;

export interface AnchorMismatch {
  evidenceId: string;
  /** The seq the anchor names. */
  seq: number;
  /** The hash the service keeps for that record. */
  anchorHash: string;
  /** The hash of the local record of that seq; absent when the local trail has no such record. */
  localHash?: string;
  message: string;
}

export interface TrailAnchorCheck {
  /** No anchor read contradicts the local trail (anchors that could not be read do not count against it). */
  ok: boolean;
  /** Evidence items of the role's uploads that may carry an anchor. */
  evidence: number;
  /** Anchors read from the service and compared with the local trail. */
  checked: number;
  matched: number;
  /** Anchors the local trail does not match: the trail was rewritten (or replaced) since they were sent. */
  mismatched: AnchorMismatch[];
  /** Evidence items that could not be read, or whose anchor fields are not readable. */
  unreadable: { evidenceId: string; message: string }[];
  /** Read, but without an anchor (made before anchors existed). */
  withoutAnchor: number;
  /** Left out by the bound (MAX_ANCHORS_CHECKED). */
  notChecked: number;
  /** The service gave no answer; the remaining reads were not tried. */
  unreachable: boolean;
  /** Seq of the newest record a matching anchor covers. */
  coveredThrough?: number;
  /** Records after the newest matching anchor (every record, when none matched). */
  uncovered?: { from: number; to: number; count: number };
  /** The outcome in a few sentences, for people. */
  summary: string[];
}

export interface TrailAnchorDeps {
  /** The role's records (for the last seq and the evidence ids of completed uploads). */
  records(): readonly ActivityRecord[];
  /** The records `seqs` as the trail file on disk holds them. */
  recordsOnDisk(seqs: readonly number[]): Promise<RecordCheck[]>;
  /** The upload jobs the queue still holds. */
  jobs(): readonly UploadJobSnapshot[];
  /** The document store of the current account (may throw: no account). */
  documents(): Promise<{ getEvidence(evidenceId: string): Promise<Evidence> }>;
  limit?: number;
  inFlight?: number;
}

interface Candidate {
  evidenceId: string;
  /** What the job record says was sent. */
  sent?: EvidenceAnchor;
  /** Newest first: the anchor's seq, else the seq of the record that names it. */
  rank: number;
}

/** The evidence ids the role made: from its upload jobs (with the anchor each was sent) and from its completed-upload records. */
function candidates(jobs: readonly UploadJobSnapshot[], records: readonly ActivityRecord[]): Candidate[] {
  const byId = new Map<string, Candidate>();
  for (const j of jobs) {
    if (!j.evidenceId || j.state === 'canceled') continue;
    byId.set(j.evidenceId, { evidenceId: j.evidenceId, ...(j.anchor ? { sent: j.anchor } : {}), rank: j.anchor?.seq ?? 0 });
  }
  for (const r of records) {
    if (r.type !== 'uploadCompleted' || !r.evidenceId) continue;
    for (const id of r.evidenceId.split(' ')) {
      const known = byId.get(id);
      if (!known) byId.set(id, { evidenceId: id, rank: r.seq });
      else if (!known.sent) known.rank = Math.max(known.rank, r.seq);
    }
  }
  return [...byId.values()].sort((a, b) => b.rank - a.rank);
}


const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Reads the anchors of the role's evidence (bounded, a few at a time) and checks the local trail against them. Never throws. */
export async function checkTrailAnchors(deps: TrailAnchorDeps): Promise<TrailAnchorCheck> {
  const limit = deps.limit ?? MAX_ANCHORS_CHECKED;
  const all = candidates(deps.jobs(), deps.records());
  const asked = all.slice(0, limit);
  const unreadable: TrailAnchorCheck['unreadable'] = [];
  const found: { evidenceId: string; anchor: EvidenceAnchor }[] = [];
  const lost: { evidenceId: string; sent: EvidenceAnchor }[] = [];
  let withoutAnchor = 0;
  let unreachable = false;

  let documents: Awaited<ReturnType<TrailAnchorDeps['documents']>> | undefined;
  if (asked.length) {
    try {
      documents = await deps.documents();
    } catch (err) {
      for (const c of asked) unreadable.push({ evidenceId: c.evidenceId, message: `not asked: ${messageOf(err)}` });
    }
  }
  if (documents) {
    const reader = documents;
    const todo = [...asked];
    const worker = async (): Promise<void> => {
      for (let c = todo.shift(); c; c = todo.shift()) {
        if (unreachable) {
          unreadable.push({ evidenceId: c.evidenceId, message: 'not asked: the service gave no answer' });
          continue;
        }
        let item: Evidence;
        try {
          item = await reader.getEvidence(c.evidenceId);
        } catch (err) {
          if (gotNoAnswer(err)) unreachable = true;
          const why = err instanceof ServiceError && err.status === 404 ? 'the service has no such evidence item' : messageOf(err);
          unreadable.push({ evidenceId: c.evidenceId, message: why });
          continue;
        }
        const anchor = anchorOfFields(item.CustomFields);
        if (anchor === 'unreadable') unreadable.push({ evidenceId: c.evidenceId, message: 'its trail anchor fields are not in a form this version reads' });
        else if (anchor) found.push({ evidenceId: c.evidenceId, anchor });
        else if (c.sent) lost.push({ evidenceId: c.evidenceId, sent: c.sent });
        else withoutAnchor++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(deps.inFlight ?? ANCHOR_READS_IN_FLIGHT, asked.length) }, worker));
  }

  const mismatched: AnchorMismatch[] = lost.map((l) => ({
    evidenceId: l.evidenceId,
    seq: l.sent.seq,
    anchorHash: l.sent.hash,
    message: `Evidence ${l.evidenceId} was sent with the trail head at record ${l.sent.seq}, but the service keeps no anchor with it.`,
  }));
  let matched = 0;
  let coveredThrough: number | undefined;
  if (found.length) {
    let onDisk: RecordCheck[] = [];
    try {
      onDisk = await deps.recordsOnDisk([...new Set(found.map((f) => f.anchor.seq))]);
    } catch {
      // An unreadable file: every anchor below mismatches, as the chain check reports too.
    }
    const hashAt = new Map(onDisk.map((r) => [r.seq, r.hash] as const));
    for (const { evidenceId, anchor } of found) {
      const localHash = hashAt.get(anchor.seq);
      if (localHash === anchor.hash) {
        matched++;
        coveredThrough = Math.max(coveredThrough ?? 0, anchor.seq);
        continue;
      }
      mismatched.push({
        evidenceId,
        seq: anchor.seq,
        anchorHash: anchor.hash,
        ...(localHash ? { localHash } : {}),
        message: localHash
          ? `Record ${anchor.seq} is not the one the service anchored with evidence ${evidenceId}: the trail was rewritten up to it.`
          : `Evidence ${evidenceId} anchors record ${anchor.seq}, which the local trail does not hold: the trail was replaced or cut.`,
      });
    }
  }
  mismatched.sort((a, b) => a.seq - b.seq);

  const last = deps.records().at(-1)?.seq ?? 0;
  const from = (coveredThrough ?? 0) + 1;
  const uncovered = from <= last ? { from, to: last, count: last - from + 1 } : undefined;
  const notChecked = all.length - asked.length;
  const checked = matched + mismatched.length;

  const summary: string[] = [];
  if (all.length === 0) summary.push('No evidence of this role carries a trail anchor yet.');
  else summary.push(`${checked} anchor(s) checked at the service: ${matched} match, ${mismatched.length} do not.`);
  for (const m of mismatched) summary.push(`ALARM: ${m.message}`);
  if (unreadable.length) summary.push(`Could not check ${unreadable.length} anchor(s)${unreachable ? ': the service is unreachable' : ''}.`);
  if (notChecked) summary.push(`${notChecked} older evidence item(s) not asked (at most ${limit} per verify).`);
  if (uncovered) summary.push(`${uncovered.count} record(s) are not covered by an anchor yet: seq ${uncovered.from}–${uncovered.to}.`);

  return {
    ok: mismatched.length === 0,
    evidence: all.length,
    checked,
    matched,
    mismatched,
    unreadable,
    withoutAnchor,
    notChecked,
    unreachable,
    ...(coveredThrough !== undefined ? { coveredThrough } : {}),
    ...(uncovered ? { uncovered } : {}),
    summary,
  };
}
