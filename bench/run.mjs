// `npm run bench`: every benchmark of issue 12 against the real engine and the
// local service on loopback, one after the other, each in a process of its
// own; their rows go to bench/RESULTS.md (a table per benchmark: measured
// value, target, pass/miss, ratio; a header with the machine, the date and the
// commit) and a summary is printed.
//
//   node bench/run.mjs [--quick] [--only <name>[,<name>…]] [--list]
//
// --quick   small sizes and fewer repeats (a smoke run, a couple of minutes)
// --only    run these benchmarks; the other sections of RESULTS.md are kept
// Exit code: 0 when every benchmark ran and met its targets, 1 otherwise.
import { spawn, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.join(HERE, '..');
const RESULTS = path.join(HERE, 'RESULTS.md');

/** In the order of the issue; `args` are the full run's, `quick` the smoke run's extra flags. */
const BENCHES = [
  { name: 'throughput', file: 'throughput.bench.ts', heading: '1. Throughput, throttling off', args: [] },
  { name: 'memory', file: 'memory.bench.ts', heading: '1b. Peak RSS on one 1 GiB upload', args: ['--mib', '1024', '--limit-mib', '64'], quick: ['--mib', '128', '--limit-mib', '64'] },
  { name: 'cap', file: 'throttle.bench.ts', heading: '2. Bandwidth cap', args: ['--mbps', '2,10,50', '--uploads', '1,5'] },
  // Issue 13: the cap stays exact through a real forward proxy (Basic auth) in front of the counting relay.
  { name: 'cap-squid', file: 'throttle.bench.ts', heading: '2b. Bandwidth cap through squid', args: ['--proxy', 'squid', '--mbps', '2,10', '--uploads', '1,5', '--seconds', '5'], quick: ['--proxy', 'squid'] },
  { name: 'latency', file: 'requestLatency.bench.ts', heading: '3. Request latency', args: ['--intervals', '1,5'] },
  { name: 'idle', file: 'idle.bench.ts', heading: '4. Idle cost of the runner', args: ['--seconds', '60', '--interval', '5'], quick: ['--seconds', '15', '--interval', '5'] },
  { name: 'console', file: 'consoleScale.bench.ts', heading: '5. Console scale', args: ['--cameras', '10000', '--requests', '1000', '--uploads', '500'] },
  { name: 'crash', file: 'crashResume.bench.ts', heading: '6. Crash resume', args: [] },
];
const TIMEOUT_MS = 10 * 60_000;
/** `npm run bench` finishes in under 15 minutes (issue 12). */
const FULL_RUN_LIMIT_S = 15 * 60;

const { values } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' }, list: { type: 'boolean' } } });
if (values.list) {
  for (const b of BENCHES) console.log(`${b.name.padEnd(12)} bench/${b.file}  ${b.heading}`);
  process.exit(0);
}
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
for (const n of only ?? []) if (!BENCHES.some((b) => b.name === n)) {
  console.error(`--only: no benchmark "${n}" (${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}
const chosen = BENCHES.filter((b) => !only || only.includes(b.name));

function git(args) {
  try {
    return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function machine() {
  let distro = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    if (m) distro = `${m[1]} (${os.type()} ${os.release()})`;
  } catch {
    /* not Linux */
  }
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    ram: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: distro,
    node: process.version,
  };
}

function commit() {
  const head = git(['rev-parse', '--short', 'HEAD']) ?? 'unknown';
  // diff-index reads only: it leaves the index as it is.
  let dirty = false;
  try {
    execFileSync('git', ['diff-index', '--quiet', 'HEAD', '--'], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    dirty = head !== 'unknown';
  }
  return dirty ? `${head} (with uncommitted changes)` : head;
}

/** Runs one benchmark in its own process group; resolves with its report (or the reason it has none). */
function runOne(b, quick) {
  const json = path.join(os.tmpdir(), `bench-${b.name}-${process.pid}.json`);
  fs.rmSync(json, { force: true });
  const args = ['--import', 'tsx', path.join(HERE, b.file), ...(quick ? ['--quick', ...(b.quick ?? [])] : b.args), '--json', json];
  console.log(`\n=== ${b.name}: ${b.heading} (bench/${b.file}${quick ? ', --quick' : ''})`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', detached: true });
    const timer = setTimeout(() => {
      console.error(`${b.name}: no end after ${TIMEOUT_MS / 60_000} min, stopping it`);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, TIMEOUT_MS);
    const onSignal = () => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    };
    process.once('SIGINT', onSignal);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      const seconds = (Date.now() - t0) / 1000;
      let report;
      try {
        report = JSON.parse(fs.readFileSync(json, 'utf8'));
      } catch {
        report = undefined;
      }
      fs.rmSync(json, { force: true });
      resolve({ bench: b, report, seconds, exit: signal ?? code, quick });
    });
  });
}

const cell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

function section(result, when, rev) {
  const { bench: b, report, seconds, exit, quick } = result;
  const lines = [`<!-- bench:${b.name} -->`, `## ${b.heading}`, ''];
  lines.push(`\`bench/${b.file}\`${quick ? ' **--quick** (smoke sizes, not the figures of record)' : ''} · ${when} · commit ${rev} · ${seconds.toFixed(0)} s`);
  lines.push('');
  if (!report) {
    lines.push(`**Did not finish** (exit ${exit}): see its output.`, '', `<!-- /bench:${b.name} -->`);
    return lines.join('\n');
  }
  if (report.setup) lines.push(report.setup, '');
  lines.push('| measured | value | target | result | ratio |', '|---|---|---|---|---|');
  for (const r of report.rows) {
    const result = r.pass === undefined ? '' : r.pass ? 'pass' : '**miss**';
    lines.push(`| ${cell(r.name)} | ${cell(r.value)} | ${cell(r.target)} | ${result} | ${cell(r.ratio)} |`);
  }
  for (const n of report.notes ?? []) lines.push('', `- ${n}`);
  lines.push('', `<!-- /bench:${b.name} -->`);
  return lines.join('\n');
}

/** Sections of an earlier RESULTS.md by benchmark name. */
function earlierSections() {
  const out = new Map();
  if (!fs.existsSync(RESULTS)) return out;
  const text = fs.readFileSync(RESULTS, 'utf8');
  for (const m of text.matchAll(/<!-- bench:([\w-]+) -->[\s\S]*?<!-- \/bench:\1 -->/g)) out.set(m[1], m[0]);
  return out;
}

async function main() {
  const quick = values.quick === true;
  const started = Date.now();
  const m = machine();
  const rev = commit();
  const when = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  console.log(`bench: ${chosen.map((b) => b.name).join(', ')}${quick ? ' (--quick)' : ''}; ${m.cpu}, ${m.cores} cores, ${m.ram}, ${m.os}, Node ${m.node}; commit ${rev}`);
  const results = [];
  for (const b of chosen) results.push(await runOne(b, quick));
  const total = (Date.now() - started) / 1000;

  const earlier = earlierSections();
  const fresh = new Map(results.map((r) => [r.bench.name, section(r, when, rev)]));
  const header = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (bench/run.mjs): each benchmark against the real engine and the local Clearance service on loopback (Azurite behind its blob gateway); peers in the same run, on the same files. Targets from issue 12.',
    '',
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.ram} RAM, ${m.os}, Node ${m.node}`,
    `- last run: ${when}, commit ${rev}${quick ? ', --quick' : ''}, ${chosen.map((b) => b.name).join(', ')} in ${total.toFixed(0)} s${
      !only && !quick ? ` (target for the whole run: < ${FULL_RUN_LIMIT_S / 60} min: ${total < FULL_RUN_LIMIT_S ? 'pass' : '**miss**'})` : ''
    }`,
    '',
    '| benchmark | targets met | run |',
    '|---|---|---|',
  ];
  const body = [];
  for (const b of BENCHES) {
    const text = fresh.get(b.name) ?? earlier.get(b.name);
    if (!text) continue;
    body.push(text);
    const rows = [...text.matchAll(/^\| .* \| (pass|\*\*miss\*\*) \| .*\|$/gm)].map((x) => x[1]);
    const done = !/\*\*Did not finish\*\*/.test(text);
    const run = /· (\S+) · commit/.exec(text)?.[1] ?? '';
    header.push(`| [${b.heading}](#${b.heading.toLowerCase().replace(/[^\w\s-]/g, '').replace(/\s+/g, '-')}) | ${done ? `${rows.filter((x) => x === 'pass').length} of ${rows.length}` : 'did not finish'} | ${run}${/--quick/.test(text) ? ' (quick)' : ''} |`);
  }
  fs.writeFileSync(RESULTS, `${[...header, '', ...body.flatMap((s) => [s, ''])].join('\n').trimEnd()}\n`);

  console.log(`\n=== summary${quick ? ' (--quick)' : ''}: ${total.toFixed(0)} s in all; ${path.relative(ROOT, RESULTS)} written`);
  let ok = true;
  if (!only && !quick && total >= FULL_RUN_LIMIT_S) {
    ok = false;
    console.log(`  the whole run took ${total.toFixed(0)} s (target < ${FULL_RUN_LIMIT_S} s)`);
  }
  for (const r of results) {
    if (!r.report) {
      ok = false;
      console.log(`  ${r.bench.name.padEnd(11)} did not finish (exit ${r.exit}) after ${r.seconds.toFixed(0)} s`);
      continue;
    }
    const judged = r.report.rows.filter((x) => x.pass !== undefined);
    const missed = judged.filter((x) => !x.pass);
    if (missed.length) ok = false;
    console.log(`  ${r.bench.name.padEnd(11)} ${judged.length - missed.length}/${judged.length} targets met, ${r.seconds.toFixed(0)} s${missed.length ? `; missed: ${missed.map((x) => `${x.name} (${x.value}; ${x.target})`).join('; ')}` : ''}`);
  }
  process.exit(ok ? 0 : 1);
}

await main();
