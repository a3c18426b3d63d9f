// The first minute, measured (issue 11): a cold first start (right after
// `npm install`: no dist/, no code-server in .vscode-test/, no sample site, no
// account) and a warm start of the same copy, each to a usable console.
//
//   node bench/firstStart.bench.mjs [--system-ffmpeg] [--warm-npm-cache] [--keep]
//
// It copies the repository to a temporary folder with node_modules linked back
// (what `npm install` left) and nothing else, then runs `npm start -- --code-server
// --port 0` there twice. By default the machine looks bare: the system ffmpeg is
// hidden from the run (as in test/start), so the npm-shipped one records the
// sample site, and code-server's packages come through an empty npm cache, so
// they are downloaded as on a new machine. --system-ffmpeg and --warm-npm-cache
// measure the kinder cases. A start counts as usable when, in Chromium, the
// workbench shows the Clearance views signed in with "Main Building" published;
// the first demo request's toast is timed too.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../scripts/code-server.mjs';
import { Workbench } from '../test/e2e/workbench.mjs';
import { copyRepository, noFfmpegWrapper, sleep, startRun, stop, until } from '../test/start/harness.mjs';

const { values: flags } = parseArgs({
  options: { 'system-ffmpeg': { type: 'boolean' }, 'warm-npm-cache': { type: 'boolean' }, keep: { type: 'boolean' } },
});
const READY_TIMEOUT_MS = 12 * 60_000;
const TOAST_TIMEOUT_MS = 2 * 60_000;

const seconds = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** One `npm start`, from its spawn to READY, to a usable console, to the first request's toast; then Ctrl+C. */
async function measure(label, { repo, env, wrap }) {
  const [cmd, args] = wrap('npm', ['start', '--', '--code-server', '--port', '0']);
  console.log(`\n${label}: npm start -- --code-server --port 0 …`);
  const t0 = Date.now();
  const run = startRun(cmd, args, { cwd: repo, timeoutMs: READY_TIMEOUT_MS, env });
  const row = { label };
  let browser;
  try {
    const ready = await run.ready;
    row.ready = Date.now() - t0;
    const out = run.output();
    const phase = (re) => {
      const m = re.exec(out);
      return m ? Number(m[1]) * 1000 : undefined;
    };
    row.build = phase(/build: done in ([\d.]+) s/);
    row.site = phase(/sample site: \d+ cameras, \d+ recording files in (\d+) s/);
    row.codeServer = phase(/console: code-server installed in (\d+) s/);
    row.ffmpeg = /^ffmpeg: (\S+)/m.exec(out)?.[1];
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.setDefaultTimeout(60_000);
    await page.goto(ready.consoleUrl);
    const wb = new Workbench(page);
    await wb.waitForWorkbench();
    row.workbench = Date.now() - t0;
    await wb.openViewContainer('Clearance');
    await wb.treeItem('Cameras', 'Main Building').waitFor({ state: 'visible', timeout: 90_000 });
    await until('"Main Building" published', async () => /5 of 5 published/.test(await wb.treeItemDescription('Cameras', 'Main Building').textContent()), 60_000);
    await wb.statusBarItem('Clearance: sign in').waitFor({ state: 'hidden' });
    row.usable = Date.now() - t0;
    try {
      await wb.notification(/New video request for/).waitFor({ state: 'visible', timeout: TOAST_TIMEOUT_MS });
      row.toast = Date.now() - t0;
    } catch {
      row.toast = undefined;
    }
    console.log(`  READY ${seconds(row.ready)}, workbench ${seconds(row.workbench)}, usable ${seconds(row.usable)}, first toast ${seconds(row.toast)}`);
  } finally {
    await browser?.close().catch(() => {});
    const stopped = await stop(run, 'SIGINT', { group: true });
    row.stop = stopped.seconds * 1000;
    if (stopped.left.length) console.log(`  (left running after Ctrl+C: ${stopped.left.join(' ')})`);
    if (row.ready === undefined) console.log(run.output().slice(-3000));
  }
  return row;
}

const scratch = mkdtempSync(path.join(os.tmpdir(), 'clearance-first-start-'));
const repo = path.join(scratch, 'repo');
try {
  copyRepository(repo, { link: ['node_modules'] });
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
  if (!flags['warm-npm-cache']) env.npm_config_cache = path.join(scratch, 'npm-cache');
  let wrap = (c, a) => [c, a];
  if (!flags['system-ffmpeg']) {
    const hider = noFfmpegWrapper(scratch);
    if (hider) wrap = hider.wrap;
    else console.log('(cannot hide the system ffmpeg here: measuring with it)');
  }
  const cold = await measure('cold (after npm install)', { repo, env, wrap });
  await sleep(2000);
  const warm = await measure('warm (the same copy again)', { repo, env, wrap });

  const cores = os.availableParallelism?.() ?? os.cpus().length;
  console.log(`\nFirst start of Clearance Console (${cores} cores, Node ${process.versions.node}; ffmpeg ${cold.ffmpeg ?? '?'}; npm cache ${flags['warm-npm-cache'] ? 'warm' : 'empty'})\n`);
  const cols = [
    ['', (r) => r.label],
    ['build', (r) => seconds(r.build)],
    ['code-server install', (r) => seconds(r.codeServer)],
    ['sample site', (r) => seconds(r.site)],
    ['READY', (r) => seconds(r.ready)],
    ['workbench', (r) => seconds(r.workbench)],
    ['usable console', (r) => seconds(r.usable)],
    ['first request toast', (r) => seconds(r.toast)],
    ['Ctrl+C to all stopped', (r) => seconds(r.stop)],
  ];
  const rows = [cols.map(([h]) => h), ...[cold, warm].map((r) => cols.map(([, f]) => f(r)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  console.log('\n(the code-server install runs while the sample site is recorded; times from the spawn of npm start)');
} finally {
  if (!flags.keep) rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  else console.log(`kept ${scratch}`);
}
