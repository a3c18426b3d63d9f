// The custody report's HTML: one self-contained document in which no string of a
// report (they come from the service, the site and requesters) can add markup, a
// link, a script, a command link, or hide and reorder what is shown.
import assert from 'node:assert/strict';
import { escapeHtml, renderCustodyReportHtml, type CustodyReport } from '../../../src/core/audit/custodyReport';

const HOSTILE =
  '<script>alert("pwned")</script><img src=x onerror=alert(1)><a href="command:workbench.action.terminal.new">run</a>' +
  '[click me](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D) ' +
  '<style>body{display:none}</style>\u202Egnp.exe\u202C & \'single\' "double" \u0000\u001b[31m\u200B<!-- --><![CDATA[ x ]]></td></table></body>';

/** Every string of a report, hostile; numbers and booleans as a real report has them. */
function hostileReport(): CustodyReport {
  const h = (field: string) => `${HOSTILE} ${field}`;
  return {
    format: 'clearance-custody-report/1',
    title: h('title'),
    generatedUtc: h('generatedUtc'),
    generatedBy: h('generatedBy'),
    subject: { kind: 'request', id: h('subject.id') },
    site: h('site'),
    accountId: h('accountId'),
    request: {
      requestId: h('requestId'),
      jobId: h('jobId'),
      status: h('status'),
      fromUtc: h('fromUtc'),
      toUtc: h('toUtc'),
      incidentTimeUtc: h('incidentTimeUtc'),
      comments: h('comments'),
      caseId: h('caseId'),
      requester: h('requester'),
      receivedUtc: h('receivedUtc'),
      decidedBy: h('decidedBy'),
      denyReason: h('denyReason'),
      cameras: [{ id: h('camera.id'), name: h('camera.name'), outcome: h('outcome'), message: h('message'), evidenceId: h('camera.evidenceId'), uploadJobId: h('camera.uploadJobId') }],
    },
    cameras: [{ id: h('cameras.id'), name: h('cameras.name') }],
    ranges: [{ cameraId: h('cameras.id'), fromUtc: h('ranges.fromUtc'), toUtc: h('ranges.toUtc') }],
    reviews: [{ seq: 3, time: h('review.time'), user: h('review.user'), what: h('review.what'), cameraId: h('review.cameraId'), cameraName: h('review.cameraName') }],
    decisions: [{ seq: 4, time: h('decision.time'), user: h('decision.user'), what: h('decision.what') }],
    evidence: [
      {
        evidenceId: h('evidenceId'),
        uploadJobId: h('uploadJobId'),
        title: h('evidence.title'),
        cameraId: h('evidence.cameraId'),
        cameraName: h('evidence.cameraName'),
        caseId: h('evidence.caseId'),
        uploadState: h('uploadState'),
        uploadedBy: h('uploadedBy'),
        queuedUtc: h('queuedUtc'),
        completedUtc: h('completedUtc'),
        files: [{ name: h('file.name'), bytes: 123, sha256: h('file.sha256'), resourceId: h('file.resourceId'), encrypted: true, state: h('file.state') }],
        service: {
          asked: true,
          evidenceState: h('evidenceState'),
          evidenceName: h('evidenceName'),
          completedUtc: h('service.completedUtc'),
          caseIds: [h('caseIds')],
          range: { fromUtc: h('service.range.from'), toUtc: h('service.range.to') },
          resources: [
            {
              name: h('resource.name'),
              resourceId: h('resource.id'),
              serviceState: h('serviceState'),
              serviceBytes: 128,
              expectedBytes: [128],
              uploadedUtc: h('uploadedUtc'),
              uploadedBy: h('resource.uploadedBy'),
              ok: false,
              note: h('note'),
            },
          ],
          extraResources: [{ name: h('extra.name'), resourceId: h('extra.id'), state: h('extra.state') }],
          ok: false,
        },
      },
      {
        evidenceId: h('evidenceId2'),
        files: [],
        service: { asked: false, error: h('service.error'), resources: [], extraResources: [], ok: false },
      },
    ],
    trail: {
      file: h('trail.file'),
      records: [
        {
          seq: 7,
          time: h('record.time'),
          type: h('record.type'),
          user: h('record.user'),
          summary: h('record.summary'),
          requestId: h('record.requestId'),
          evidenceId: h('record.evidenceId'),
          uploadJobId: h('record.uploadJobId'),
          files: [{ name: h('record.file.name'), bytes: 5, sha256: h('record.file.sha256') }],
          hash: h('record.hash'),
          prevHash: h('record.prevHash'),
          intact: true,
          linked: false,
        },
      ],
      chain: { ok: false, records: 9, problems: [{ kind: h('problem.kind'), line: 2, seq: 2, message: h('problem.message') }] },
    },
    compared: [h('compared')],
    verdict: { ok: false, findings: [h('finding')] },
  };
}

/** The markup the renderer may write: these elements, with these attributes. */
const ALLOWED: Record<string, readonly string[]> = {
  html: ['lang'],
  head: [],
  meta: ['charset', 'http-equiv', 'content', 'name'],
  title: [],
  style: [],
  body: [],
  h1: [],
  h2: [],
  h3: [],
  p: ['class'],
  div: ['class'],
  span: ['class'],
  strong: [],
  code: [],
  dl: [],
  dt: [],
  dd: [],
  ul: [],
  li: [],
  table: [],
  thead: [],
  tbody: [],
  tr: [],
  th: [],
  td: [],
};

describe('custody report HTML', () => {
  const report = hostileReport();
  const html = renderCustodyReportHtml(report);

  it('is one self-contained document: a CSP that forbids all but inline style, no script, link, image or anything fetched', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">'));
    assert.ok(html.trimEnd().endsWith('</html>'));
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    assert.equal((html.match(/<style>/g) ?? []).length, 1, 'one style element: the renderer\u2019s own');
    // Text never holds a raw "<" or ">" (see the next test), so these are the document's tags.
    const tags = (html.match(/<[^>]*>/g) ?? []).join('\n');
    assert.doesNotMatch(tags, /<script|<img|<a[\s>]|<link|<iframe|<object|<embed|<form|<base|<svg|<math/i);
    assert.doesNotMatch(tags, /\s(href|src|srcset|action|formaction|on[a-z]+)\s*=/i, 'no attribute that links, loads or runs');
    assert.doesNotMatch(html, /url\(|@import|javascript:/i);
  });

  it('writes only its own elements and attributes: every "<" in it starts one of them', () => {
    const body = html.slice('<!DOCTYPE html>'.length);
    const styleStart = body.indexOf('<style>');
    const styleEnd = body.indexOf('</style>');
    assert.ok(styleStart > 0 && styleEnd > styleStart);
    const css = body.slice(styleStart + '<style>'.length, styleEnd);
    assert.doesNotMatch(css, /[<>]|pwned|command:/, 'the CSS is the renderer\u2019s alone');
    const markup = body.slice(0, styleStart) + body.slice(styleEnd);
    let tags = 0;
    for (const m of markup.matchAll(/<(\/?)([a-z0-9]+)((?:\s+[a-z-]+="[^"<>]*")*)\s*>/g)) {
      tags++;
      const [, , name, attrs] = m;
      assert.ok(Object.hasOwn(ALLOWED, name!), `element <${name}>`);
      for (const a of attrs!.matchAll(/([a-z-]+)="/g)) assert.ok(ALLOWED[name!]!.includes(a[1]!), `attribute ${a[1]} on <${name}>`);
    }
    assert.equal((markup.match(/</g) ?? []).length, tags, 'no "<" outside a tag of the renderer');
  });

  it('shows every hostile string as text: escaped, command links inert, invisible and direction characters as code points', () => {
    assert.ok(html.includes('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;'));
    assert.ok(html.includes('&lt;a href=&quot;command:workbench.action.terminal.new&quot;&gt;run&lt;/a&gt;'));
    assert.ok(html.includes('[click me](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D)'), 'a Markdown command link stays plain text');
    assert.ok(html.includes('&#39;single&#39; &quot;double&quot;'));
    assert.ok(html.includes('[U+202E]gnp.exe[U+202C]'));
    assert.ok(html.includes('[U+0000][U+001B][31m[U+200B]'));
    // eslint-disable-next-line no-control-regex -- the characters that must not be left
    assert.doesNotMatch(html, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/, 'no control, invisible or bidi character left');
    // Every field reached the page, escaped (none dropped on the way).
    const fields = ['title', 'requester', 'site', 'accountId', 'comments', 'denyReason', 'camera.name', 'review.user', 'decision.what', 'evidence.title', 'file.name', 'file.sha256', 'note', 'extra.name', 'service.error', 'record.summary', 'record.hash', 'problem.message', 'compared', 'finding', 'trail.file', 'service.range.from'];
    for (const f of fields) assert.ok(html.includes(`&lt;/body&gt; ${f}`), f);
  });

  it('marks what failed: the verdict, a mismatch, an unlinked record, a service not asked', () => {
    assert.match(html, /<div class="verdict bad"><p><span class="bad">Not every check passed\.<\/span>/);
    assert.match(html, /<span class="bad">not checked<\/span>/);
    assert.match(html, /<span class="bad">does NOT verify<\/span>/);
    assert.match(html, /<td><span class="ok">yes<\/span><\/td><td><span class="bad">NO<\/span><\/td><\/tr>/, 'intact, not linked');
    const good = renderCustodyReportHtml({ ...report, verdict: { ok: true, findings: [] } });
    assert.match(good, /<div class="verdict ok"><p><span class="ok">Every check passed\.<\/span><\/p><\/div>/);
  });

  it('escapes what it is given, whatever it is', () => {
    assert.equal(escapeHtml('a<b>&"\''), 'a&lt;b&gt;&amp;&quot;&#39;');
    assert.equal(escapeHtml(undefined), '');
    assert.equal(escapeHtml(null), '');
    assert.equal(escapeHtml(42), '42');
    assert.equal(escapeHtml('\u2067x\u2069\ufeff'), '[U+2067]x[U+2069][U+FEFF]');
    assert.equal(escapeHtml('Zoë — 東京 ✓'), 'Zoë — 東京 ✓', 'ordinary text is kept');
  });
});
