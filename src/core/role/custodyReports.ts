// Gathers the chain-of-custody report of one video request or one evidence item
// from what the role holds (the request desk, the upload queue, the activity
// trail) and what the service answers of the evidence (its state and resources),
// and checks the trail records that cover it against the trail file. The shape
// and the HTML are in ../audit/custodyReport.ts.
import type { ActivityRecord, ActivityTrail } from '../audit/activityTrail';
import type { CustodyAct, CustodyEvidence, CustodyFile, CustodyRecord, CustodyReport, CustodyResourceCheck, CustodyServiceCheck } from '../audit/custodyReport';
import type { Evidence, Resource } from '../clearance/api';
import { ValidationError } from '../config/fieldErrors';
import { ServiceError } from '../net/errors';
import { STATUS_LABELS, isFinal, type VideoRequest } from '../requests/videoRequest';
import { ROLE_ACTOR, short } from '../requests/videoRequestDesk';
import { cipherLength, type UploadJobSnapshot } from '../uploads/uploadJob';

export type CustodySubject = { kind: 'request'; requestId: string } | { kind: 'evidence'; evidenceId: string };

/** What the service is asked of an evidence item (DocumentStoreClient is one). */
export interface CustodyEvidenceReader {
  getEvidence(evidenceId: string): Promise<Evidence>;
  listResources(evidenceId: string): Promise<Resource[]>;
}

export interface CustodyDeps {
  trail: Pick<ActivityTrail, 'records' | 'verifyRecords' | 'path'>;
  requests: { get(requestId: string): VideoRequest | undefined; list(): VideoRequest[] };
  uploads: { snapshot(): UploadJobSnapshot[] };
  siteName: () => Promise<string>;
  accountId: () => Promise<string | undefined>;
  /** The service's document store; throws when there is no account or it cannot be reached. */
  documents: () => Promise<CustodyEvidenceReader>;
  now: () => Date;
}

const jobIdOf = (r: ActivityRecord): string | undefined => (typeof r.details?.uploadJobId === 'string' ? r.details.uploadJobId : undefined);
const evidenceIdsOf = (r: ActivityRecord): string[] => (r.evidenceId ? r.evidenceId.split(' ').filter(Boolean) : []);

export async function buildCustodyReport(deps: CustodyDeps, subject: CustodySubject, who: string): Promise<CustodyReport> {
  const all = deps.trail.records();
  const jobs = deps.uploads.snapshot();
  const jobIds = new Set<string>();
  const evidenceIds = new Set<string>();
  let request: VideoRequest | undefined;
  /** For one evidence item of a request: its camera (the request's other cameras are not its custody). */
  let evidenceCamera: string | undefined;

  if (subject.kind === 'request') {
    request = deps.requests.get(subject.requestId);
    if (!request) throw new ValidationError('The custody report', [{ field: 'request', message: `no video request ${JSON.stringify(subject.requestId)} has reached this role` }]);
    const id = request.requestId;
    for (const c of request.cameras) {
      if (c.uploadJobId) jobIds.add(c.uploadJobId);
      if (c.evidenceId) evidenceIds.add(c.evidenceId);
    }
    for (const r of all) {
      if (r.requestId !== id) continue;
      const j = jobIdOf(r);
      if (j) jobIds.add(j);
      for (const ev of evidenceIdsOf(r)) evidenceIds.add(ev);
    }
    for (const j of jobs) {
      if (j.videoRequestId === id || jobIds.has(j.id)) {
        jobIds.add(j.id);
        if (j.evidenceId) evidenceIds.add(j.evidenceId);
      }
    }
  } else {
    const id = subject.evidenceId;
    evidenceIds.add(id);
    let requestId: string | undefined;
    for (const j of jobs) {
      if (j.evidenceId !== id) continue;
      jobIds.add(j.id);
      requestId ??= j.videoRequestId;
    }
    for (const r of all) {
      if (!evidenceIdsOf(r).includes(id)) continue;
      const j = jobIdOf(r);
      if (j) jobIds.add(j);
      if (r.type === 'uploadCompleted' && r.requestId) requestId ??= r.requestId;
    }
    const holder = deps.requests.list().find((q) => q.cameras.some((c) => c.evidenceId === id || (c.uploadJobId !== undefined && jobIds.has(c.uploadJobId))));
    requestId ??= holder?.requestId;
    if (jobIds.size === 0 && !holder) {
      throw new ValidationError('The custody report', [{ field: 'evidence', message: `no upload of this role made evidence ${JSON.stringify(id)}` }]);
    }
    request = requestId ? deps.requests.get(requestId) : undefined;
    const camera = request?.cameras.find((c) => c.evidenceId === id || (c.uploadJobId !== undefined && jobIds.has(c.uploadJobId)));
    if (camera) {
      evidenceCamera = camera.id;
      if (camera.uploadJobId) jobIds.add(camera.uploadJobId);
    }
  }

  const covers = (r: ActivityRecord): boolean => {
    if (evidenceIdsOf(r).some((ev) => evidenceIds.has(ev))) return true;
    const j = jobIdOf(r);
    if (j !== undefined) return jobIds.has(j);
    if (!request || r.requestId !== request.requestId) return false;
    // One evidence item: the request's records of its camera, or of no one camera.
    return evidenceCamera === undefined || !r.cameras?.length || r.cameras.includes(evidenceCamera);
  };
  const covered = all.filter(covers);
  const cameraName = new Map<string, string>((request?.cameras ?? []).map((c) => [c.id, c.name]));

  // -- evidence items --------------------------------------------------------------
  const findings: string[] = [];
  const evidence: CustodyEvidence[] = [];
  let documents: Promise<CustodyEvidenceReader> | undefined;
  for (const evidenceId of evidenceIds) {
    const job = jobs.find((j) => j.evidenceId === evidenceId);
    const completed = covered.filter((r) => r.type === 'uploadCompleted' && evidenceIdsOf(r).includes(evidenceId)).at(-1);
    const uploadJobId = job?.id ?? (completed ? jobIdOf(completed) : undefined);
    const queued = uploadJobId ? covered.find((r) => r.type === 'uploadQueued' && jobIdOf(r) === uploadJobId) : undefined;
    const camera = request?.cameras.find((c) => c.evidenceId === evidenceId || (uploadJobId !== undefined && c.uploadJobId === uploadJobId));
    const files: CustodyFile[] = job
      ? job.parts.map((p) => ({ name: p.name, bytes: p.bytes, sha256: p.sha256, ...(p.resourceId ? { resourceId: p.resourceId } : {}), encrypted: p.encrypted, state: p.state }))
      : (completed?.files ?? queued?.files ?? []).map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 }));
    const cameraId = camera?.id ?? (completed?.cameras?.length === 1 ? completed.cameras[0] : undefined);
    documents ??= deps.documents();
    const service = await checkAtService(documents, evidenceId, files);
    const item: CustodyEvidence = {
      evidenceId,
      ...(uploadJobId ? { uploadJobId } : {}),
      ...(job?.title ? { title: job.title } : {}),
      ...(cameraId ? { cameraId } : {}),
      ...(cameraId && cameraName.get(cameraId) ? { cameraName: cameraName.get(cameraId)! } : {}),
      ...((job?.caseId ?? completed?.caseId) ? { caseId: (job?.caseId ?? completed?.caseId)! } : {}),
      ...(job ? { uploadState: job.state } : {}),
      ...(completed?.user ? { uploadedBy: completed.user } : {}),
      ...((queued?.time ?? job?.createdAt) ? { queuedUtc: (queued?.time ?? job?.createdAt)! } : {}),
      ...((job?.completedAt ?? completed?.time) ? { completedUtc: (job?.completedAt ?? completed?.time)! } : {}),
      files,
      service,
    };
    evidence.push(item);
    if (!completed) findings.push(`Evidence ${evidenceId}: the trail has no record of its upload completing.`);
    if (job && job.state !== 'completed') findings.push(`Evidence ${evidenceId}: its upload is ${job.state} at the role.`);
    if (files.length === 0) findings.push(`Evidence ${evidenceId}: no file of it is known to the role.`);
    if (!service.asked) findings.push(`Evidence ${evidenceId}: not checked at the service (${service.error ?? 'unknown reason'}).`);
    else if (!service.ok) findings.push(`Evidence ${evidenceId}: what the service holds does not match what the role sent (see its table).`);
  }
  for (const id of jobIds) {
    const job = jobs.find((j) => j.id === id);
    if (job && !job.evidenceId) findings.push(`Upload job ${id} (${job.title}) has no evidence item yet: it is ${job.state}.`);
  }
  if (request) {
    if (!isFinal(request.status)) findings.push(`The request is ${STATUS_LABELS[request.status]}: its custody is not complete yet.`);
    for (const c of request.cameras) {
      if (c.outcome === 'Exported' && !c.evidenceId) findings.push(`${c.name}: exported, but no evidence id is known.`);
    }
  }

  // -- acts of people -------------------------------------------------------------
  const reviews: CustodyAct[] = covered
    .filter((r) => r.type === 'requestReviewed')
    .map((r) => {
      const cam = r.cameras?.[0];
      return { seq: r.seq, time: r.time, user: r.user ?? '', what: r.summary, ...(cam ? { cameraId: cam, ...(cameraName.get(cam) ? { cameraName: cameraName.get(cam)! } : {}) } : {}) };
    });
  const decisions: CustodyAct[] = covered
    .filter((r) => (r.type === 'requestStatusChanged' && r.details?.from === 'Pending') || (r.type === 'uploadQueued' && !r.requestId && r.user !== ROLE_ACTOR))
    .map((r) => ({ seq: r.seq, time: r.time, user: r.user ?? '', what: r.summary }));

  // -- cameras and ranges -----------------------------------------------------------
  const cameraIds = request
    ? request.cameras.filter((c) => !evidenceCamera || c.id === evidenceCamera).map((c) => c.id)
    : [...new Set(covered.flatMap((r) => (r.type === 'exportCompleted' || r.type === 'uploadQueued' ? (r.cameras ?? []) : [])))];
  const serviceRange = evidence.find((ev) => ev.service.range)?.service.range;
  const ranges = cameraIds.flatMap((cameraId) => {
    if (request) return [{ cameraId, fromUtc: request.fromUtc, toUtc: request.toUtc }];
    return serviceRange ? [{ cameraId, ...serviceRange }] : [];
  });

  // -- the trail --------------------------------------------------------------------
  const checked = await deps.trail.verifyRecords(covered.map((r) => r.seq));
  const bySeq = new Map(checked.records.map((c) => [c.seq, c]));
  const records: CustodyRecord[] = covered.map((r) => {
    const c = bySeq.get(r.seq);
    const j = jobIdOf(r);
    return {
      seq: r.seq,
      time: r.time,
      type: r.type,
      ...(r.user ? { user: r.user } : {}),
      summary: r.summary,
      ...(r.requestId ? { requestId: r.requestId } : {}),
      ...(r.evidenceId ? { evidenceId: r.evidenceId } : {}),
      ...(j ? { uploadJobId: j } : {}),
      ...(r.files?.length ? { files: r.files.map((f) => ({ name: f.name, bytes: f.bytes, sha256: f.sha256 })) } : {}),
      hash: r.hash,
      prevHash: r.prevHash,
      intact: c?.intact ?? false,
      linked: c?.linked ?? false,
    };
  });
  if (!checked.chain.ok) findings.push(`The activity trail does not verify: ${checked.chain.problems.length} problem(s), listed below.`);
  for (const r of records) {
    if (!r.intact) findings.push(`Trail record ${r.seq} is not intact on disk (missing, or changed after it was written).`);
    else if (!r.linked) findings.push(`Trail record ${r.seq} does not link to the record before it.`);
  }
  if (records.length === 0) findings.push('No trail record covers it.');

  const asked = evidence.some((ev) => ev.service.asked);
  const compared = [
    'Files: each file\u2019s size and SHA-256 are those the role computed from the file it exported from the site\u2019s recordings; the same values are recorded in the activity trail when the file was exported, queued and uploaded (shown with the records below).',
    asked
      ? 'Service: for each evidence item the service was asked for the item and its resources. Each file was matched to its resource (by resource id, else by name): the resource must be Complete, and its stored size must equal the file\u2019s size as uploaded (encrypted, AES-CBC with PKCS7 padding: the plain size rounded up to the next multiple of 16 bytes; or the plain size for an unencrypted upload). The item must be Complete and hold no resource the role did not send.'
      : 'Service: the service was not asked (see the findings): nothing in this report comes from it.',
    'SHA-256 at the service: not recomputed for this report (the service\u2019s copy was not downloaded). When the role completed each resource it declared the file\u2019s SHA-256 to the service, which in this product\u2019s protocol decrypts the stored blob, hashes it and refuses the completion on a mismatch; a Complete resource is that answer.',
    'Trail: the trail file was read again from disk; every record\u2019s hash was recomputed and every link checked from the first record to the last, and the last one against the trail\u2019s head file (so records removed from the end are detected).',
    'Trail records listed: each was also checked on its own: found on disk at its sequence number, unchanged (its content hashes to its stored hash, which equals the hash the role holds), and linked to the record before it (sequence + 1, previous hash equal).',
  ];

  const subjectId = subject.kind === 'request' ? request!.requestId : subject.evidenceId;
  const report: CustodyReport = {
    format: 'clearance-custody-report/1',
    title: subject.kind === 'request' ? `Chain of custody: video request ${short(subjectId)}` : `Chain of custody: evidence ${subjectId}`,
    generatedUtc: deps.now().toISOString(),
    generatedBy: who,
    subject: { kind: subject.kind, id: subjectId },
    site: await deps.siteName(),
    ...(await deps.accountId().then((a) => (a ? { accountId: a } : {}))),
    ...(request
      ? {
          request: {
            requestId: request.requestId,
            jobId: request.jobId,
            status: STATUS_LABELS[request.status],
            fromUtc: request.fromUtc,
            toUtc: request.toUtc,
            incidentTimeUtc: request.incidentTimeUtc,
            comments: request.comments,
            caseId: request.caseId,
            ...requesterOf(request),
            receivedUtc: request.receivedAt,
            ...(request.decidedBy ? { decidedBy: request.decidedBy } : {}),
            ...(request.denyReason ? { denyReason: request.denyReason } : {}),
            cameras: request.cameras.map((c) => ({
              id: c.id,
              name: c.name,
              ...(c.outcome ? { outcome: c.outcome } : {}),
              ...(c.message ? { message: c.message } : {}),
              ...(c.evidenceId ? { evidenceId: c.evidenceId } : {}),
              ...(c.uploadJobId ? { uploadJobId: c.uploadJobId } : {}),
            })),
          },
        }
      : {}),
    cameras: cameraIds.map((id) => ({ id, name: cameraName.get(id) ?? '' })),
    ranges,
    reviews,
    decisions,
    evidence,
    trail: { file: deps.trail.path, records, chain: checked.chain },
    compared,
    verdict: { ok: findings.length === 0, findings },
  };
  return report;
}

async function checkAtService(documents: Promise<CustodyEvidenceReader>, evidenceId: string, files: readonly CustodyFile[]): Promise<CustodyServiceCheck> {
  let reader: CustodyEvidenceReader;
  try {
    reader = await documents;
  } catch (error) {
    return { asked: false, error: (error as Error).message, resources: [], extraResources: [], ok: false };
  }
  let item: Evidence;
  let resources: Resource[];
  try {
    [item, resources] = await Promise.all([reader.getEvidence(evidenceId), reader.listResources(evidenceId)]);
  } catch (error) {
    if (error instanceof ServiceError && error.status === 404) {
      return { asked: true, evidenceState: 'missing', resources: files.map((f) => missing(f, 'the service has no such evidence item')), extraResources: [], ok: false };
    }
    return { asked: false, error: (error as Error).message, resources: [], extraResources: [], ok: false };
  }
  const used = new Set<string>();
  const checks = files.map((f): CustodyResourceCheck => {
    const res = (f.resourceId ? resources.find((r) => r.ResourceId === f.resourceId) : undefined) ?? resources.find((r) => r.Name === f.name && !used.has(r.ResourceId));
    if (!res) return missing(f, 'the service lists no resource of this file');
    used.add(res.ResourceId);
    const expectedBytes = f.encrypted === undefined ? [...new Set([f.bytes, cipherLength(f.bytes, true)])] : [cipherLength(f.bytes, f.encrypted)];
    const problems: string[] = [];
    if (res.State !== 'Complete') problems.push(`the resource is ${res.State}, not Complete`);
    if (res.Size === null || res.Size === undefined) problems.push('the service gives no stored size');
    else if (!expectedBytes.includes(res.Size)) problems.push(`the stored size is ${res.Size} bytes, not ${expectedBytes.join(' or ')}`);
    if (res.Name !== f.name) problems.push(`the resource is named ${JSON.stringify(res.Name)}`);
    return {
      name: f.name,
      resourceId: res.ResourceId,
      serviceState: res.State,
      serviceBytes: res.Size,
      expectedBytes,
      uploadedUtc: res.UploadedTimeUtc,
      ...(res.UploadedBy?.Username ? { uploadedBy: res.UploadedBy.Username } : {}),
      ok: problems.length === 0,
      note: problems.length ? problems.join('; ') : 'Complete; stored size matches the file',
    };
  });
  const extraResources = resources.filter((r) => !used.has(r.ResourceId)).map((r) => ({ name: r.Name, resourceId: r.ResourceId, state: r.State }));
  return {
    asked: true,
    evidenceState: item.State,
    evidenceName: item.Name,
    completedUtc: item.CompletedTimeUtc ?? null,
    caseIds: item.CaseIds ?? [],
    ...(item.StartTimeUtc && item.EndTimeUtc ? { range: { fromUtc: item.StartTimeUtc, toUtc: item.EndTimeUtc } } : {}),
    resources: checks,
    extraResources,
    ok: item.State === 'Complete' && checks.every((c) => c.ok) && extraResources.length === 0 && checks.length > 0,
  };
}

/** Who asked, when the service said (read loosely: older requests do not carry it). */
function requesterOf(request: VideoRequest): { requester?: string } {
  const requester = (request as { requester?: unknown }).requester;
  return typeof requester === 'string' && requester ? { requester } : {};
}

function missing(f: CustodyFile, note: string): CustodyResourceCheck {
  return { name: f.name, ...(f.resourceId ? { resourceId: f.resourceId } : {}), serviceState: 'missing', ok: false, note };
}
