// The first minute, measured (issue 11): a cold first start (right after
// `npm install`: no dist/, no code-server in .vscode-test/, no sample site, no
// account) and a warm start of the same copy, each to a usable console.
//
//   node bench/firstStart.bench.mjs [--system-ffmpeg] [--warm-npm-cache] [--keep] [--repo <dir> --warm <n>]
//
// It copies the repository to a temporary folder with node_modules linked back
// (what `npm install` left) and nothing else, then runs `npm start -- --code-server
// --port 0` there twice. By default the machine looks bare: the system ffmpeg is
// hidden from the run (as in test/start), so the npm-shipped one records the
// sample site, and code-server's packages come through an empty npm cache, so
// they are downloaded as on a new machine. --system-ffmpeg and --warm-npm-cache
// measure the kinder cases. A start counts as usable when, in Chromium, the
// workbench shows the Clearance views signed in with "Main Building" published;
// the first demo request's toast is timed too. The browser is the user's: it is
// running before `npm start` (its own start-up is not counted), and each start
// opens a new page in it, as a click on the printed URL would.
// --repo <dir> (a copy kept by --keep) --warm <n> measures n more warm starts of it
// and no cold one: the median is what the README quotes.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launchChromium } from '../scripts/code-server.mjs';
import { Workbench } from '../test/e2e/workbench.mjs';
import { copyRepository, noFfmpegWrapper, sleep, startRun, stop, until } from '../test/start/harness.mjs';

const { values: flags } = parseArgs({
  options: {
    'system-ffmpeg': { type: 'boolean' },
    'warm-npm-cache': { type: 'boolean' },
    keep: { type: 'boolean' },
    repo: { type: 'string' },
    warm: { type: 'string' },
  },
});
const READY_TIMEOUT_MS = 12 * 60_000;
const TOAST_TIMEOUT_MS = 2 * 60_000;

const seconds = (ms) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s`);

/** One `npm start`, from its spawn to READY, to a usable console, to the first request's toast; then Ctrl+C. */
async function measure(label, { repo, env, wrap, browser }) {
  const [cmd, args] = wrap('npm', ['start', '--', '--code-server', '--port', '0']);
  console.log(`\n${label}: npm start -- --code-server --port 0 …`);
  const t0 = Date.now();
  const run = startRun(cmd, args, { cwd: repo, timeoutMs: READY_TIMEOUT_MS, env });
  const row = { label };
  let context;
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
    // A fresh context: no cache or storage from an earlier start (a returning user's browser would have them).
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(60_000);
    await page.goto(ready.consoleUrl);
    const wb = new Workbench(page);
    await wb.waitForWorkbench();
    row.workbench = Date.now() - t0;
    await wb.openViewContainer('Clearance');
    row.views = Date.now() - t0;
    await wb.treeItem('Cameras', 'Main Building').waitFor({ state: 'visible', timeout: 90_000 });
    row.tree = Date.now() - t0;
    await until('"Main Building" published', async () => /5 of 5 published/.test(await wb.treeItemDescription('Cameras', 'Main Building').textContent()), 60_000, 50);
    row.published = Date.now() - t0;
    await wb.statusBarItem('Clearance: sign in').waitFor({ state: 'hidden' });
    row.usable = Date.now() - t0;
    try {
      await wb.notification(/New video request for/).waitFor({ state: 'visible', timeout: TOAST_TIMEOUT_MS });
      row.toast = Date.now() - t0;
    } catch {
      row.toast = undefined;
    }
    console.log(`  READY ${seconds(row.ready)}, workbench ${seconds(row.workbench)}, views ${seconds(row.views)}, tree ${seconds(row.tree)}, published ${seconds(row.published)}, usable ${seconds(row.usable)}, first toast ${seconds(row.toast)}`);
  } finally {
    await context?.close().catch(() => {});
    const stopped = await stop(run, 'SIGINT', { group: true });
    row.stop = stopped.seconds * 1000;
    if (stopped.left.length) console.log(`  (left running after Ctrl+C: ${stopped.left.join(' ')})`);
    if (row.ready === undefined) console.log(run.output().slice(-3000));
  }
  return row;
}

const scratch = flags.repo ? path.dirname(path.resolve(flags.repo)) : mkdtempSync(path.join(os.tmpdir(), 'clearance-first-start-'));
const repo = flags.repo ? path.resolve(flags.repo) : path.join(scratch, 'repo');
const browser = await launchChromium();
try {
  if (!flags.repo) copyRepository(repo, { link: ['node_modules'] });
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^npm_/i.test(k)) delete env[k];
  if (!flags['warm-npm-cache']) env.npm_config_cache = path.join(scratch, 'npm-cache');
  let wrap = (c, a) => [c, a];
  if (!flags['system-ffmpeg']) {
    const hider = noFfmpegWrapper(scratch);
    if (hider) wrap = hider.wrap;
    else console.log('(cannot hide the system ffmpeg here: measuring with it)');
  }
  const starts = [];
  if (!flags.repo) {
    starts.push(await measure('cold (after npm install)', { repo, env, wrap, browser }));
    await sleep(2000);
  }
  for (let i = 0; i < Math.max(1, Number(flags.warm ?? 1)); i++) {
    starts.push(await measure(`warm${flags.warm ? ` ${i + 1}` : ''} (the same copy again)`, { repo, env, wrap, browser }));
    await sleep(2000);
  }
  const warms = starts.filter((r) => r.label.startsWith('warm') && r.usable !== undefined).map((r) => r.usable).sort((a, b) => a - b);
  const cold = starts.find((r) => r.label.startsWith('cold')) ?? {};

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
  const rows = [cols.map(([h]) => h), ...starts.map((r) => cols.map(([, f]) => f(r)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  console.log(line(rows[0]));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
  if (warms.length > 1) console.log(`\nwarm to a usable console: median ${seconds(warms[Math.floor(warms.length / 2)])} of ${warms.length} (${seconds(warms[0])}–${seconds(warms.at(-1))})`);
  console.log('\n(the code-server install runs while the sample site is recorded; times from the spawn of npm start; the browser was running before)');
} finally {
  await browser.close().catch(() => {});
  if (!flags.keep && !flags.repo) rmSync(scratch, { recursive: true, force: true, maxRetries: 3 });
  else console.log(`kept ${scratch}`);
}
