// `npm run test:faults`: the whole fault matrix of issue 13 (every fault several
// times on a five-file request, 20 SIGKILLs of the runner, the two-minute outage)
// through test/unit/faults/faults.test.ts with CLEARANCE_FAULTS_FULL=1, then the
// bad-input suites (BAD_INPUT_SUITES), then docs/reliability.md from the figures each
// case wrote and the bad-input tests' results. The exit code is mocha's (either run).
//   node scripts/test-faults.mjs            the full matrix (about 10-15 minutes)
//   node scripts/test-faults.mjs --quick    what `npm test` runs (each fault once), report included
// CLEARANCE_FAULTS_SEED=<n> replays a kill schedule; CLEARANCE_FAULTS_RUNS=<n> sets the runs per fault.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const quick = process.argv.includes('--quick');
const reportFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'clearance-faults-report-')), 'figures.jsonl');
const doc = path.join(root, 'docs', 'reliability.md');

const started = Date.now();
const env = { ...process.env, CLEARANCE_FAULTS_REPORT: reportFile, ...(quick ? {} : { CLEARANCE_FAULTS_FULL: '1' }) };
const code = await new Promise((resolve) => {
  const child = spawn('npx', ['mocha', 'test/unit/faults/faults.test.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
    process.stdout.write(d);
  });
  child.stderr.on('data', (d) => process.stderr.write(d));
  child.on('close', (c) => resolve({ code: c ?? 1, out }));
});

// Bad input: the suites that feed the role broken or hostile input, each test listed with its result.
const BAD_INPUT_SUITES = [
  'test/unit/config/connectionFile.property.test.ts',
  'test/unit/config/connectionFile.test.ts',
  'test/unit/config/jsonText.test.ts',
  'test/unit/config/roleProperties.test.ts',
  'test/unit/console/evidenceForm.test.ts',
  'test/unit/console/plainText.test.ts',
  'test/unit/site/localFolderSite.test.ts',
  'test/unit/emulator/validation.test.ts',
];
const badInputJson = path.join(path.dirname(reportFile), 'bad-input.json');
const badInputCode = await new Promise((resolve) => {
  const child = spawn('npx', ['mocha', '--reporter', 'json', '--reporter-option', `output=${badInputJson}`, ...BAD_INPUT_SUITES], { cwd: root, env, stdio: ['ignore', 'ignore', 'inherit'] });
  child.on('close', (c) => resolve(c ?? 1));
});
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

const reported = fs.existsSync(reportFile)
  ? fs
      .readFileSync(reportFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const properties = reported.find((r) => r.kind === 'connectionFileProperties');
const rows = reported.filter((r) => r.kind !== 'connectionFileProperties');

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const fmt = (n) => n.toLocaleString('en-US');
const cell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
/** Per route, the largest number of extra requests in one run. */
const maxPerRoute = (rs, key) => {
  const out = {};
  for (const r of rs) for (const [k, v] of Object.entries(r[key] ?? {})) if (v) out[k] = Math.max(out[k] ?? -Infinity, v);
  return Object.entries(out)
    .map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`)
    .join(', ');
};

const byKind = new Map();
for (const r of rows) {
  const list = byKind.get(r.kind) ?? [];
  list.push(r);
  byKind.set(r.kind, list);
}

const mode = rows[0]?.mode ?? (quick ? 'quick' : 'full');
const seed = rows[0]?.seed;
const lines = [];
lines.push('# Reliability: the fault matrix and bad input (issue 13)');
lines.push('');
lines.push(
  `Figures of one \`${mode === 'full' ? 'npm run test:faults' : 'node scripts/test-faults.mjs --quick'}\` run (${mode} matrix), written by scripts/test-faults.mjs on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ${os.cpus().length} cores, ${minutes} minutes; kill seed ${seed ?? '-'}. Mocha exit code ${code.code}.`,
);
lines.push('');
lines.push(
  'Each run: the real role (`Role.open`, in-process; the SIGKILL runs in a child process) against the local service on loopback; one video request for one camera over 50 s, exported in five 10 s parts (about 0.2–0.4 MB each, 64 KiB blocks, encrypted), approved, and worked on while the fault is active. A run passes when the request ends Completed (or, for a fault that never ends, is given back to Pending with a reason), every file\'s SHA-256 at the service (decrypted by the service) equals the source\'s, the request has exactly one evidence item with exactly five complete resources, no staged file is left, and the requests per upload route stay within the bounds below.',
);
lines.push('');
lines.push('Bounds on requests per route (evidence.create, resource.create, blob.putBlock, blob.putBlockList, blob.get, resource.complete, evidence.complete), against a fault-free run of the same request:');
lines.push('');
lines.push('- policy: at most (fault-free count) × 3 tries per call × 3 runs of the upload job (the request desk retries a failed upload twice) × lives (2 when the service or the role restarts);');
lines.push('- tight, for faults that end: at most the fault-free count + 1 per fault fired on that route (5 for an early token expiry: every call in flight carries the expired token), plus 5 block-list reads after a rejected block, or 30 after a restart or outage (the 25 blocks in flight at the stop, 5 per file, and a block-list read per file); when the upload starts over with new evidence (purged at the service, or its upload link refused), twice the fault-free count plus 5: everything goes once more, to the new evidence.');
lines.push('');
lines.push('"Bytes re-sent" are Put Block body bytes the service received beyond the encrypted size of the five files; "extra requests" the largest excess over the fault-free run in one run; "HTTP retries" what the role\'s client logged.');
lines.push('');
lines.push('| Fault | Runs | Passed | Outcome | Time per run (s) | Bytes re-sent (max) | Extra requests per route (max) | HTTP retries (total) | Lost |');
lines.push('|---|---|---|---|---|---|---|---|---|');
for (const [kind, rs] of byKind) {
  if (kind.startsWith('sigkill')) continue;
  const passed = rs.filter((r) => r.problems.length === 0).length;
  const outcomes = [...new Set(rs.map((r) => r.status))].join(', ');
  const secs = rs.map((r) => r.seconds);
  const retries = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.httpRetries ?? {})) retries[k] = (retries[k] ?? 0) + v;
  const lost = [...new Set(rs.flatMap((r) => r.problems))];
  lines.push(
    `| ${cell(rs[0].name)} | ${rs.length} | ${passed} | ${outcomes} | ${Math.min(...secs).toFixed(1)}–${Math.max(...secs).toFixed(1)} | ${fmt(Math.max(...rs.map((r) => r.bytesResent)))} | ${cell(maxPerRoute(rs, 'extra') || '—')} | ${cell(Object.entries(retries).map(([k, v]) => `${k} ${v}`).join(', ') || '—')} | ${cell(lost.join('; ') || 'nothing')} |`,
  );
}
const kills = byKind.get('sigkill') ?? [];
if (kills.length) {
  const passed = kills.filter((r) => r.problems.length === 0).length;
  const late = kills.filter((r) => r.name.includes('had ended already')).length;
  lines.push('');
  lines.push(`## SIGKILL of the runner: ${kills.length} kills, ${passed} passed`);
  lines.push('');
  lines.push(
    `Each kill: a new request, a child process running the role approves it, is killed with SIGKILL at a random moment in the window a kill-free request of the same child took (seed ${seed}), and a new child on the same state finishes it. ${late} kill(s) came after the request had settled. Bytes re-sent: ${fmt(sum(kills.map((r) => r.bytesResent)))} in all, at most ${fmt(Math.max(...kills.map((r) => r.bytesResent)))} after one kill; blocks received twice: at most ${Math.max(...kills.map((r) => r.blocksSentAgain))} after one kill.`,
  );
  lines.push('');
  lines.push('| # | Killed | Outcome | Time (s) | Bytes re-sent | Blocks twice | Extra requests | Lost |');
  lines.push('|---|---|---|---|---|---|---|---|');
  kills.forEach((r, i) => {
    const when = r.name.replace(/^SIGKILL \d+: /, '');
    const extra = Object.entries(r.extra).filter(([, v]) => v).map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join(', ');
    lines.push(`| ${i + 1} | ${cell(when)} | ${r.status} | ${r.seconds.toFixed(1)} | ${fmt(r.bytesResent)} | ${r.blocksSentAgain} | ${cell(extra || '—')} | ${cell(r.problems.join('; ') || 'nothing')} |`);
  });
}
const givenBack = rows.filter((r) => r.reason);
if (givenBack.length) {
  lines.push('');
  lines.push('## Reasons given when a fault never ends (or a request is given back)');
  lines.push('');
  for (const r of givenBack.slice(0, 6)) lines.push(`- ${cell(r.name)}: ${cell(r.reason.slice(0, 600))}`);
}

// Bad input, from mocha's JSON report of the suites above.
const badInput = fs.existsSync(badInputJson) ? JSON.parse(fs.readFileSync(badInputJson, 'utf8')) : undefined;
lines.push('');
lines.push('## Bad input tried');
lines.push('');
if (!badInput) lines.push(`The bad-input suites did not report (mocha exit code ${badInputCode}).`);
else {
  lines.push(
    `Each refused with an error that names the field (or the file) and leaves the current account, properties and files as they were; names and text from outside stay inert (plain text in trees and webviews, inside the destination folder on disk). ${badInput.stats.passes} passed, ${badInput.stats.failures} failed (mocha exit code ${badInputCode}), from ${BAD_INPUT_SUITES.map((f) => `\`${f.replace('test/unit/', '')}\``).join(', ')}.`,
  );
  if (properties) {
    lines.push('');
    lines.push(`Generated connection files (\`fast-check\`, seed ${properties.seed}): ${fmt(properties.total)} cases.`);
    lines.push('');
    lines.push('| Kind | Cases | Refused | Accepted (as the same account) | Also through the account store on disk |');
    lines.push('|---|---|---|---|---|');
    for (const [kind, c] of Object.entries(properties.perKind)) lines.push(`| ${cell(kind)} | ${fmt(c.cases)} | ${fmt(c.refused)} | ${fmt(c.accepted)} | ${fmt(c.imported)} |`);
  }
  lines.push('');
  lines.push('| Suite | Input tried | Result |');
  lines.push('|---|---|---|');
  const failed = new Set(badInput.failures.map((t) => t.fullTitle));
  for (const t of badInput.tests) {
    const suite = t.fullTitle.slice(0, t.fullTitle.length - t.title.length).trim();
    lines.push(`| ${cell(suite)} | ${cell(t.title)} | ${failed.has(t.fullTitle) ? '**failed**' : 'passed'} |`);
  }
}
lines.push('');
lines.push('## What was lost');
lines.push('');
const allProblems = rows.flatMap((r) => r.problems.map((p) => `${r.kind}: ${p}`));
lines.push(allProblems.length ? allProblems.map((p) => `- ${cell(p)}`).join('\n') : `Nothing, in ${rows.length} fault runs${badInput ? ` and ${badInput.stats.passes + badInput.stats.failures} bad-input tests` : ''}.`);
lines.push('');
if (mode !== 'full') lines.push('These are figures of the quick run (each fault once, a few-second outage, 2 kills); `npm run test:faults` gives the full matrix.\n');

fs.mkdirSync(path.dirname(doc), { recursive: true });
const previous = fs.existsSync(doc) ? fs.readFileSync(doc, 'utf8') : '';
// Findings written by hand below this marker survive a new run.
const marker = '<!-- kept: notes below are written by hand -->';
const kept = previous.includes(marker) ? previous.slice(previous.indexOf(marker)) : `${marker}\n`;
fs.writeFileSync(doc, `${lines.join('\n')}\n${kept}`);
console.log(`\nwrote ${path.relative(root, doc)} (${rows.length} runs)`);
process.exit(code.code || badInputCode);
