// The chain-of-custody report of one video request or one evidence item: what
// was asked, who reviewed and decided it, what was exported and uploaded and
// when, every file with its size and SHA-256, what the service says it holds,
// and the activity-trail records that cover it, each checked against the trail
// file. This file holds the report's shape and its HTML rendering: one
// self-contained document (inline CSS, no script, no link, nothing fetched),
// readable without the product. Every string in it may come from outside (the
// service, the site, a requester's comments), so every string is escaped, and
// invisible or direction-changing characters are shown as their code points.

/** One file of the evidence, as the role exported and sent it. */
export interface CustodyFile {
  name: string;
  /** Plain bytes, as exported. */
  bytes: number;
  /** SHA-256 (hex) of the plain file, computed by the role as it exported it. */
  sha256: string;
  resourceId?: string;
  /** Whether the role encrypted it before upload; undefined when no longer known. */
  encrypted?: boolean;
  /** The upload state of this file at the role (pending, uploading, committed, completed). */
  state?: string;
}

/** What the service said of one file (resource), compared with the role's file. */
export interface CustodyResourceCheck {
  name: string;
  resourceId?: string;
  /** The service's resource state, or "missing" when the service lists no such resource. */
  serviceState: string;
  /** Bytes of the stored blob (ciphertext when encrypted), as the service reports them. */
  serviceBytes?: number | null;
  /** The blob size the role's file gives: the plain size, or its AES-CBC ciphertext size. */
  expectedBytes?: number[];
  uploadedUtc?: string | null;
  uploadedBy?: string;
  ok: boolean;
  note: string;
}

export interface CustodyServiceCheck {
  /** The service was asked (false: not reachable or no account; see `error`). */
  asked: boolean;
  error?: string;
  evidenceState?: string;
  evidenceName?: string;
  completedUtc?: string | null;
  caseIds?: string[];
  /** The evidence item's own range, as the service holds it. */
  range?: { fromUtc: string; toUtc: string };
  resources: CustodyResourceCheck[];
  /** Resources the service lists that are not among the role's files. */
  extraResources: { name: string; resourceId: string; state: string }[];
  ok: boolean;
}

export interface CustodyEvidence {
  evidenceId: string;
  uploadJobId?: string;
  title?: string;
  cameraId?: string;
  cameraName?: string;
  caseId?: string;
  /** The upload job's state at the role, when the job is still in its list. */
  uploadState?: string;
  /** The site user on whose behalf it was uploaded (the approver, the exporting operator), or "role". */
  uploadedBy?: string;
  queuedUtc?: string;
  completedUtc?: string;
  files: CustodyFile[];
  service: CustodyServiceCheck;
}

/** A site user's act on the request: a review, a decision. */
export interface CustodyAct {
  seq: number;
  time: string;
  user: string;
  what: string;
  cameraId?: string;
  cameraName?: string;
}

/** One trail record that covers the subject, and how it fared against the trail file. */
export interface CustodyRecord {
  seq: number;
  time: string;
  type: string;
  user?: string;
  summary: string;
  requestId?: string;
  evidenceId?: string;
  uploadJobId?: string;
  files?: { name: string; bytes: number; sha256: string }[];
  hash: string;
  prevHash: string;
  /** The record on disk hashes to its stored hash, which is the one the role holds. */
  intact: boolean;
  /** It follows the record before it: seq + 1, and prevHash = that record's hash. */
  linked: boolean;
}

export interface CustodyReport {
  /** Format of this report, for tools that read the JSON. */
  format: 'clearance-custody-report/1';
  title: string;
  generatedUtc: string;
  /** The site user who asked for the report. */
  generatedBy: string;
  subject: { kind: 'request' | 'evidence'; id: string };
  site: string;
  accountId?: string;
  request?: {
    requestId: string;
    jobId: string;
    status: string;
    fromUtc: string;
    toUtc: string;
    incidentTimeUtc: string;
    comments: string;
    caseId: string | null;
    /** Who asked, as the service names them (when it says). */
    requester?: string;
    receivedUtc: string;
    decidedBy?: string;
    denyReason?: string;
    cameras: { id: string; name: string; outcome?: string; message?: string; evidenceId?: string; uploadJobId?: string }[];
  };
  cameras: { id: string; name: string }[];
  ranges: { cameraId: string; fromUtc: string; toUtc: string }[];
  reviews: CustodyAct[];
  decisions: CustodyAct[];
  evidence: CustodyEvidence[];
  trail: {
    file: string;
    records: CustodyRecord[];
    /** The whole trail, verified from its file (every link and the head). */
    chain: { ok: boolean; records: number; problems: { kind: string; line: number; seq?: number; message: string }[] };
  };
  /** What was compared, in plain words, so that a reader knows what the checks do and do not prove. */
  compared: string[];
  /** ok: every check above passed; findings: each one that did not, or that could not be made. */
  verdict: { ok: boolean; findings: string[] };
}

// ---------------------------------------------------------------------------
// HTML

// eslint-disable-next-line no-control-regex -- these are the characters it exists to find
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

/**
 * Text made safe for HTML: the five special characters as entities, and every
 * control, invisible or bidirectional-override character as a visible [U+XXXX],
 * so that no string can add markup or hide and reorder what is shown.
 */
export function escapeHtml(value: string | number | boolean | null | undefined): string {
  const text = value === undefined || value === null ? '' : String(value);
  return text
    .replace(INVISIBLE, (c) => `[U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const e = escapeHtml;

type CellValue = string | number | boolean | null | undefined | Mark | Code;

function table(headers: readonly string[], rows: readonly (readonly CellValue[])[], empty: string): string {
  if (rows.length === 0) return `<p class="none">${e(empty)}</p>`;
  const head = headers.map((h) => `<th>${e(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${cell(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** A cell's value; a Mark renders as a pass/fail badge. */
function cell(v: CellValue): string {
  if (v instanceof Mark) return `<span class="${v.ok ? 'ok' : 'bad'}">${e(v.text)}</span>`;
  if (v instanceof Code) return `<code>${e(v.text)}</code>`;
  return e(v);
}

class Mark {
  constructor(
    readonly ok: boolean,
    readonly text: string,
  ) {}
}
class Code {
  constructor(readonly text: string) {}
}
const mark = (ok: boolean, yes = 'yes', no = 'NO') => new Mark(ok, ok ? yes : no);
const code = (text: string | undefined | null) => new Code(text ?? '');

function facts(rows: readonly (readonly [string, CellValue])[]): string {
  const shown = rows.filter(([, v]) => v !== undefined && v !== null && v !== '');
  return `<dl>\n${shown.map(([k, v]) => `<dt>${e(k)}</dt><dd>${cell(v)}</dd>`).join('\n')}\n</dl>`;
}

const CSS = `
body{font:14px/1.45 Georgia,'Times New Roman',serif;color:#111;background:#fff;margin:2em auto;max-width:70em;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;border-bottom:1px solid #999;margin-top:1.8em}h3{font-size:1.05em}
table{border-collapse:collapse;width:100%;margin:.5em 0 1em}th,td{border:1px solid #bbb;padding:.25em .45em;text-align:left;vertical-align:top}
th{background:#eee}td,dd{overflow-wrap:anywhere;word-break:break-word}code{font:12px/1.3 'Courier New',monospace;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em}dt{font-weight:bold}dd{margin:0}
.ok{color:#075e07;font-weight:bold}.bad{color:#a00000;font-weight:bold}.none{color:#555;font-style:italic}
.verdict{border:2px solid;padding:.6em 1em;margin:1em 0}.verdict.ok{border-color:#075e07}.verdict.bad{border-color:#a00000}
.small{font-size:.9em;color:#333}@media print{body{margin:0;max-width:none}}
`;

/** The report as one self-contained HTML document. */
export function renderCustodyReportHtml(r: CustodyReport): string {
  const s: string[] = [];
  s.push(`<h1>${e(r.title)}</h1>`);
  s.push(
    facts([
      ['Subject', `${r.subject.kind === 'request' ? 'Video request' : 'Evidence item'} ${r.subject.id}`],
      ['Site', r.site],
      ['Clearance account', r.accountId],
      ['Generated (UTC)', r.generatedUtc],
      ['Generated by', r.generatedBy],
      ['Report format', r.format],
    ]),
  );
  s.push(
    `<div class="verdict ${r.verdict.ok ? 'ok' : 'bad'}"><p><span class="${r.verdict.ok ? 'ok' : 'bad'}">${r.verdict.ok ? 'Every check passed.' : 'Not every check passed.'}</span></p>` +
      (r.verdict.findings.length ? `<ul>${r.verdict.findings.map((f) => `<li>${e(f)}</li>`).join('')}</ul>` : '') +
      `</div>`,
  );

  if (r.request) {
    const q = r.request;
    s.push('<h2>Video request</h2>');
    s.push(
      facts([
        ['Request id', code(q.requestId)],
        ['Service job id', code(q.jobId)],
        ['Status', q.status],
        ['Range (UTC)', `${q.fromUtc} – ${q.toUtc}`],
        ['Incident time (UTC)', q.incidentTimeUtc],
        ['Case', q.caseId ?? 'none'],
        ['Requested by', q.requester],
        ['Received by the role (UTC)', q.receivedUtc],
        ['Decided by', q.decidedBy],
        ['Reason given', q.denyReason],
        ['Requester\u2019s comments', q.comments],
      ]),
    );
    s.push(
      table(
        ['Camera', 'Camera id', 'Outcome', 'Message', 'Evidence id', 'Upload job'],
        q.cameras.map((c) => [c.name, code(c.id), c.outcome ?? '', c.message ?? '', code(c.evidenceId), code(c.uploadJobId)]),
        'The request names no camera.',
      ),
    );
  }

  s.push('<h2>Cameras and ranges</h2>');
  const names = new Map(r.cameras.map((c) => [c.id, c.name]));
  s.push(table(['Camera', 'Camera id', 'From (UTC)', 'To (UTC)'], r.ranges.map((x) => [names.get(x.cameraId) ?? '', code(x.cameraId), x.fromUtc, x.toUtc]), 'No camera or range is known.'));

  s.push('<h2>Reviews</h2>');
  s.push(table(['Time (UTC)', 'User', 'Camera', 'What', 'Trail record'], r.reviews.map((a) => [a.time, a.user, a.cameraName ?? a.cameraId ?? '', a.what, a.seq]), 'Nobody reviewed video of it through the role.'));

  s.push('<h2>Decisions</h2>');
  s.push(table(['Time (UTC)', 'User', 'What', 'Trail record'], r.decisions.map((a) => [a.time, a.user, a.what, a.seq]), 'No decision is recorded.'));

  s.push('<h2>Evidence</h2>');
  if (r.evidence.length === 0) s.push('<p class="none">No evidence item was made.</p>');
  for (const ev of r.evidence) {
    s.push(`<h3>Evidence item <code>${e(ev.evidenceId)}</code></h3>`);
    s.push(
      facts([
        ['Title', ev.title],
        ['Camera', ev.cameraName ? `${ev.cameraName} (${ev.cameraId ?? ''})` : ev.cameraId],
        ['Case', ev.caseId],
        ['Upload job', ev.uploadJobId ? code(ev.uploadJobId) : undefined],
        ['Upload state at the role', ev.uploadState],
        ['Uploaded on behalf of', ev.uploadedBy],
        ['Queued (UTC)', ev.queuedUtc],
        ['Completed (UTC)', ev.completedUtc],
      ]),
    );
    s.push(
      table(
        ['File', 'Bytes', 'SHA-256 (plain file)', 'Resource id', 'Encrypted'],
        ev.files.map((f) => [f.name, f.bytes, code(f.sha256), code(f.resourceId), f.encrypted === undefined ? 'unknown' : f.encrypted ? 'yes' : 'no']),
        'No file is known.',
      ),
    );
    const sv = ev.service;
    s.push(`<p><strong>At the service:</strong> ${sv.asked ? cell(mark(sv.ok, 'matches', 'does not match')) : `<span class="bad">not checked</span> (${e(sv.error ?? 'unknown reason')})`}</p>`);
    if (sv.asked) {
      s.push(facts([['Evidence name', sv.evidenceName], ['Evidence state', sv.evidenceState], ['Completed (UTC)', sv.completedUtc], ['Range (UTC)', sv.range ? `${sv.range.fromUtc} – ${sv.range.toUtc}` : undefined], ['Cases', sv.caseIds?.join(', ')]]));
      s.push(
        table(
          ['File', 'Resource id', 'State', 'Stored bytes', 'Expected bytes', 'Uploaded (UTC)', 'Uploaded by', 'Match', 'Note'],
          sv.resources.map((x) => [x.name, code(x.resourceId), x.serviceState, x.serviceBytes ?? '', x.expectedBytes?.join(' or ') ?? '', x.uploadedUtc ?? '', x.uploadedBy ?? '', mark(x.ok), x.note]),
          'The service lists no resource.',
        ),
      );
      if (sv.extraResources.length) {
        s.push('<p class="bad">Resources at the service that the role did not send:</p>');
        s.push(table(['Name', 'Resource id', 'State'], sv.extraResources.map((x) => [x.name, code(x.resourceId), x.state]), ''));
      }
    }
  }

  s.push('<h2>What was compared</h2>');
  s.push(`<ul>${r.compared.map((c) => `<li>${e(c)}</li>`).join('')}</ul>`);

  s.push('<h2>Activity trail</h2>');
  s.push(
    `<p>Trail file: <code>${e(r.trail.file)}</code>. The whole chain of ${e(r.trail.chain.records)} record(s): ${cell(mark(r.trail.chain.ok, 'verifies', 'does NOT verify'))}.</p>`,
  );
  if (r.trail.chain.problems.length) {
    s.push(table(['Problem', 'Line', 'Record', 'Message'], r.trail.chain.problems.map((p) => [p.kind, p.line, p.seq ?? '', p.message]), ''));
  }
  s.push(
    table(
      ['Record', 'Time (UTC)', 'Type', 'User', 'Summary', 'Files', 'Hash', 'Previous hash', 'Intact', 'Linked'],
      r.trail.records.map((x) => [
        x.seq,
        x.time,
        x.type,
        x.user ?? '',
        x.summary,
        (x.files ?? []).map((f) => `${f.name} (${f.bytes} bytes, SHA-256 ${f.sha256})`).join('; '),
        code(x.hash),
        code(x.prevHash),
        mark(x.intact),
        mark(x.linked),
      ]),
      'No trail record covers it.',
    ),
  );
  s.push(
    '<p class="small">How to check a record without this product: remove its <code>hash</code> field, write the rest as JSON with the keys of every object sorted and no spaces, ' +
      'and compute the SHA-256 of that text (UTF-8): it equals the record\u2019s hash. Each record\u2019s <code>prevHash</code> is the hash of the record before it ' +
      '(64 zeros for the first), so changing, removing or reordering any record breaks the chain from there on. The chain has no key: it shows the trail was not changed ' +
      'piecemeal, not that nobody able to rewrite the whole file did so.</p>',
  );

  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="referrer" content="no-referrer">',
    `<title>${e(r.title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...s,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
