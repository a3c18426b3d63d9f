// Idle cost of the headless role runner: CPU and memory over a quiet minute.
//
//   npx tsx bench/idle.bench.ts [--quick] [--seconds 60] [--interval 5] [--tsx] [--json out.json]
//
// The local service on loopback; the sample site's site.json with the Main
// Building area selected and an account imported (done in-process first, on
// the state the runner then opens). Then `clearance-role run` in a process of
// its own, as it ships: src/cli/main.ts bundled by esbuild with the options of
// scripts/build.mjs into the temp dir (--tsx: the sources through tsx), polling
// every `interval` s, nothing to do. After it logs "role running" and a warm-up
// of two intervals, its CPU time (utime + stime from /proc) and RSS (sampled
// every second) are taken over `seconds` s. Target: CPU < 0.5 % of one core.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as esbuild from 'esbuild';
import { FileSecretStore } from '../src/core/config/secretStore';
import { Role } from '../src/core/role/role';
import { LocalFolderSite, SAMPLE_SITE_FILE, resolveFfmpeg } from '../src/core/site';
import { startEmulator } from '../src/emulator/server';
import { cpuSecondsOf, flag, MiB, num, QUICK, Report, rssOf, runMain, sleep } from './lib/common';

const ROOT = path.join(__dirname, '..');

/** src/cli/main.ts as dist/cli.js is built (scripts/build.mjs: bundle, CommonJS, node20), into `outfile`. */
async function bundleCli(outfile: string): Promise<string> {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['src/cli/main.ts'],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'warning',
    define: { 'import.meta.url': 'importMetaUrl' },
    banner: { js: "const importMetaUrl = require('url').pathToFileURL(__filename).href;" },
  });
  return outfile;
}

async function main(): Promise<number> {
  const seconds = num('seconds', QUICK ? 15 : 60);
  const interval = num('interval', 5);
  const viaTsx = flag('tsx');
  const r = new Report('idle', 'Idle cost of the runner');
  r.setup = `clearance-role run (${viaTsx ? 'src/cli/main.ts through tsx' : 'src/cli/main.ts bundled as scripts/build.mjs does'}) polling every ${interval} s, sample site with 5 cameras selected, nothing to do; measured over ${seconds} s after a warm-up of ${2 * interval} s`;
  console.log(r.setup);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-idle-'));
  const emulator = await startEmulator({ location: path.join(dir, 'service'), log: () => undefined });
  let proc: ReturnType<typeof spawn> | undefined;
  try {
    const siteDir = path.join(dir, 'site');
    const stateDir = path.join(dir, 'state');
    fs.mkdirSync(path.join(siteDir, 'recordings'), { recursive: true });
    fs.writeFileSync(path.join(siteDir, 'site.json'), JSON.stringify(SAMPLE_SITE_FILE, null, 2));
    const propertiesFile = path.join(dir, 'properties.json');
    fs.writeFileSync(propertiesFile, JSON.stringify({ pollingIntervalSeconds: Math.max(5, interval), archiveDestinationFolder: path.join(dir, 'archive'), throttlingEnabled: false }));
    // The account and the selection, as an operator would have left them.
    const role = await Role.open({ stateDir, site: new LocalFolderSite(siteDir, resolveFfmpeg()), secrets: new FileSecretStore(path.join(stateDir, 'secrets.json')), log: () => undefined });
    await role.adoptConnectionFile(fs.readFileSync(emulator.connectionFilePath, 'utf8'), 'bench');
    await role.addToSelection('admin', { kind: 'area', id: SAMPLE_SITE_FILE.areas.find((a) => a.name === 'Main Building')!.id });
    await role.close();

    const entry = viaTsx ? ['--import', 'tsx', path.join(ROOT, 'src', 'cli', 'main.ts')] : [await bundleCli(path.join(dir, 'cli.js'))];
    const args = [...entry, 'run', '--site', siteDir, '--state', stateDir, '--properties', propertiesFile, ...(interval < 5 ? ['--poll-interval', String(interval)] : [])];
    proc = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const started = performance.now();
    while (!/role running/.test(out)) {
      if (proc.exitCode !== null) throw new Error(`the runner ended: ${out.slice(-1000)}`);
      if (performance.now() - started > 60_000) throw new Error(`the runner did not start within 60 s: ${out.slice(-1000)}`);
      await sleep(100);
    }
    const pid = proc.pid!;
    await sleep(2 * interval * 1000);
    const rss: number[] = [];
    const cpu0 = cpuSecondsOf(pid)!;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(1000);
      const x = rssOf(pid);
      if (x === undefined) throw new Error(`the runner ended: ${out.slice(-1000)}`);
      rss.push(x);
    }
    const cpu1 = cpuSecondsOf(pid)!;
    const wall = (performance.now() - t0) / 1000;
    const share = ((cpu1 - cpu0) / wall) * 100;
    const polls = Math.round(wall / interval);
    r.row(`CPU over ${seconds} s`, `${share.toFixed(3)} % of one core (${((cpu1 - cpu0) * 1000).toFixed(0)} ms CPU, ~${polls} polls)`, { target: '< 0.5 %', pass: share < 0.5, ratio: share / 0.5 });
    r.row('RSS: mean (min–max)', `${(rss.reduce((a, b) => a + b, 0) / rss.length / MiB).toFixed(1)} MiB (${(Math.min(...rss) / MiB).toFixed(1)}–${(Math.max(...rss) / MiB).toFixed(1)})`);
    r.row('RSS growth over the window', `${((rss.at(-1)! - rss[0]!) / MiB).toFixed(1)} MiB`);
    r.note('CPU from /proc/<pid>/stat at 100 ticks/s: 10 ms resolution');
    return r.finish();
  } finally {
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((res) => proc!.once('exit', res));
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc!.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(t);
    }
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain(main);
