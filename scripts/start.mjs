#!/usr/bin/env node
// `npm start`: the embedded default in one command, ending in a console that
// already works. Builds if needed, starts the local Clearance service (with
// Azurite) on loopback, makes sure the account's connection file and the sample
// site exist (ffmpeg: a system one on PATH, else the npm-shipped binary), starts
// the site's role in the background with that account, publishes one area to the
// registry, leaves a one-time sign-in for the sample administrator, opens the
// console (desktop VS Code when `code` is on PATH, otherwise code-server) and
// files demo video requests inside the recordings: the first one a few seconds
// after the console has signed in, then every few minutes.
// Everything lives in .clearance-local/ (gitignored) and is reused on the next
// start. Ctrl-C (or SIGTERM) stops every process it started, the role included.
//
// `npm run role` (`node scripts/start.mjs role`): the headless role runner in the
// foreground, against the same service and sample site.
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync,
  rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { serviceApi } from './service-api.mjs';
import { DEAD_GALLERY, QUIET_SETTINGS, codeServerArgs, descendants, freePort, httpStatus, killTree, workbenchUrl } from './code-server.mjs';
import {
  CODE_SERVER_INSTALL_ESTIMATE, CODE_SERVER_VERSION, ROOT, codeServerInstalled,
} from './vscode-offline.mjs';

const USAGE = `Usage: npm start [-- options]
       node scripts/start.mjs [options]
       npm run role [-- <clearance-role run options>]   the headless role runner, in the foreground

  --port <n>           console (code-server) port on 127.0.0.1; default 8080 (a free one when 8080
                       is taken), 0 for any free port. A port given here that is taken is an error.
  --code-server        serve the console with code-server even when desktop VS Code (\`code\`) is on PATH
  --no-open            start the service and the sample site only: no console, no role
                       (run the role headless with \`npm run role\`)
  --fresh              delete the local data folder first (new account, new connection file, new site)
  --location <dir>     local data folder (default: .clearance-local in the repository)
  --service-port <n>   port of the local service (default 0: the previous run's port when free)
  --demo <seconds>     file a demo video request every N seconds (default 180, 0: off)
  --demo-first <s>     the first demo request: N seconds after the console has signed in (default 5),
                       at the latest 60 s after the console is ready
  --site-minutes <n>   minutes of recordings per camera in a new sample site (default 20)
  --help               this text`;

const DEFAULT_CONSOLE_PORT = 8080;
const DEFAULT_DEMO_SECONDS = 180;
const DEFAULT_DEMO_FIRST_SECONDS = 5;
/** Without a console signing in (none opened, or it was signed in already), the first demo request comes this long after READY. */
const DEMO_FIRST_AT_THE_LATEST_MS = 60_000;
const DEFAULT_SITE_MINUTES = 20;
const SERVICE_READY_TIMEOUT_MS = 60_000;
const CONSOLE_READY_TIMEOUT_MS = 90_000;
const ROLE_STOP_GRACE_MS = 20_000;
const CLI = path.join(ROOT, 'dist', 'cli.js');
const EMULATOR = path.join(ROOT, 'dist', 'emulator.js');
/** The sample site's area that npm start publishes to the registry on the first start. */
const PUBLISHED_AREA = 'Main Building';
const SAMPLE_ADMIN = 'admin';
/** npm start's own notes beside the sample site (recorded span, what it set up once). */
const SITE_NOTES_FILE = '.npm-start.json';
const TICKET_FILE_NAME = 'admin.sign-in-ticket';

// A small process of its own that outlives this script if it is killed without a
// chance to clean up (SIGKILL): then its IPC channel closes and it stops what this
// script started. On a normal stop this script stops everything itself first.
const WATCHDOG = `
const watched = new Map();
process.on('SIGINT', () => {});
process.on('message', (m) => {
  if (m.watch) watched.set(m.watch.pid, m.watch);
  if (m.forget) watched.delete(m.forget);
  if (m.done) process.exit(0);
});
process.on('disconnect', () => {
  if (watched.size === 0) process.exit(0);
  const send = (target, sig) => { try { process.kill(target, sig); } catch {} };
  for (const w of watched.values()) send(w.group ? -w.pid : w.pid, 'SIGTERM');
  setTimeout(() => {
    for (const w of watched.values()) { send(-w.pid, 'SIGKILL'); send(w.pid, 'SIGKILL'); }
    process.exit(0);
  }, 10000);
});
`;

class UsageError extends Error {}

function say(line = '') {
  try {
    process.stdout.write(`${line}\n`);
  } catch { /* stdout closed: nothing to tell */ }
}
function warn(line) {
  try {
    process.stderr.write(`${line}\n`);
  } catch { /* stderr closed */ }
}

function parseOptions(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        'code-server': { type: 'boolean' },
        'no-open': { type: 'boolean' },
        fresh: { type: 'boolean' },
        location: { type: 'string' },
        'service-port': { type: 'string' },
        demo: { type: 'string' },
        'demo-first': { type: 'string' },
        'site-minutes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const port = (flag) => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > 65535) throw new UsageError(`--${flag} must be a port number from 0 to 65535, found ${JSON.stringify(raw)}`);
    return n;
  };
  const seconds = (flag, fallback) => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    if (!/^\d+$/.test(raw)) throw new UsageError(`--${flag} must be a whole number of seconds${flag === 'demo' ? ' (0: off)' : ''}, found ${JSON.stringify(raw)}`);
    return Number(raw);
  };
  const minutesRaw = values['site-minutes'];
  const siteMinutes = minutesRaw === undefined ? DEFAULT_SITE_MINUTES : Number(minutesRaw);
  if (!Number.isFinite(siteMinutes) || siteMinutes <= 0 || siteMinutes > 24 * 60) {
    throw new UsageError(`--site-minutes must be a number of minutes above 0 and at most 1440, found ${JSON.stringify(minutesRaw)}`);
  }
  const consolePort = port('port');
  return {
    help: Boolean(values.help),
    consolePort: consolePort ?? DEFAULT_CONSOLE_PORT,
    consolePortGiven: consolePort !== undefined,
    servicePort: port('service-port') ?? 0,
    forceCodeServer: Boolean(values['code-server']),
    open: !values['no-open'],
    fresh: Boolean(values.fresh),
    location: path.resolve(values.location ?? path.join(ROOT, '.clearance-local')),
    demoSeconds: seconds('demo', DEFAULT_DEMO_SECONDS),
    demoFirstSeconds: seconds('demo-first', DEFAULT_DEMO_FIRST_SECONDS),
    siteMinutes,
  };
}

function folders(location) {
  return {
    location,
    service: path.join(location, 'service'),
    site: path.join(location, 'site'),
    logs: path.join(location, 'logs'),
    // Owner-only: the administrator's password for the scripted set-up, while npm start runs.
    run: path.join(location, 'run'),
    ticket: path.join(location, '.vscode', TICKET_FILE_NAME),
  };
}

// ---------------------------------------------------------------- processes

/** What runs, in start order; stopped in reverse. */
const running = [];
let stopping = false;
let dataFolder;
/** Files removed on every way out (the administrator's password file). */
const removeOnExit = new Set();
process.on('exit', () => {
  for (const f of removeOnExit) rmSync(f, { force: true });
});

function processAlive(pid) {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  // A process that exited but is not reaped yet (a zombie) still answers signal 0.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let watchdog;

function startWatchdog() {
  watchdog = spawn(process.execPath, ['-e', WATCHDOG], { detached: true, stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  watchdog.unref();
  watchdog.channel?.unref();
}

function tellWatchdog(message) {
  try {
    if (watchdog?.connected) watchdog.send(message);
  } catch { /* the watchdog is gone: nothing to tell */ }
}

/**
 * Starts a long-running child in its own process group (so a terminal's Ctrl-C
 * reaches only this script, which stops children in order) and puts it in
 * `running`. `group`: the watchdog signals the whole group, not only the process.
 */
function startChild(name, command, args, options, { group = true, stop } = {}) {
  const child = spawn(command, args, { cwd: ROOT, ...options, detached: true });
  const entry = { name, child, stop: () => (stop ? stop(child) : killTree(child)) };
  running.push(entry);
  if (child.pid) tellWatchdog({ watch: { pid: child.pid, group } });
  child.once('exit', () => tellWatchdog({ forget: child.pid }));
  return entry;
}

function forget(entry) {
  const at = running.indexOf(entry);
  if (at >= 0) running.splice(at, 1);
}

function exited(child) {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child, ms) {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Asks a process to stop with SIGTERM (it shuts its own children down), then
 * kills whatever of its tree is left after the grace period.
 */
async function stopGracefully(child, graceMs) {
  if (exited(child)) return;
  const tree = descendants(child.pid);
  try {
    process.kill(child.pid, 'SIGTERM');
  } catch { /* already gone */ }
  if (!(await waitExit(child, graceMs))) await killTree(child, 2000);
  for (const pid of tree) {
    if (processAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone meanwhile */ }
    }
  }
}

/** Output of a child goes to a log file; the last lines are kept for error messages. */
function logTo(child, file, { onLine } = {}) {
  mkdirSync(path.dirname(file), { recursive: true });
  const fd = openSync(file, 'a');
  writeSync(fd, `\n--- ${new Date().toISOString()} pid ${child.pid}\n`);
  let tail = '';
  let partial = '';
  const take = (chunk) => {
    const text = chunk.toString();
    try {
      writeSync(fd, text);
    } catch { /* log file gone (--fresh in another shell): keep running */ }
    tail = (tail + text).slice(-8000);
    if (onLine) {
      partial += text;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const l of lines) onLine(l);
    }
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  child.once('close', () => {
    try {
      closeSync(fd);
    } catch { /* closed */ }
  });
  return { tail: () => tail };
}

function lastLines(text, n = 12) {
  return text.trim().split('\n').filter((l) => !/^\s+at /.test(l)).slice(-n).map((l) => `    ${l}`).join('\n');
}

/** Short commands running now (a scripted clearance-role call): ended with the rest on a stop. */
const shortLived = new Set();

/** Runs a short command to its end (not in `running`): exit code and output. */
function runToEnd(command, args, { timeoutMs = 120_000, env } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: ROOT, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    shortLived.add(child);
    child.once('exit', () => shortLived.delete(child));
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, out, err: e.message });
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      resolve({ code: code ?? sig, out, err });
    });
  });
}

function secs(ms) {
  return `${Math.round(ms / 1000)} s`;
}

// ---------------------------------------------------------------- build

function newestMtime(p) {
  let st;
  try {
    st = statSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(p)) {
    if (name === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(path.join(p, name)));
  }
  return newest;
}

async function ensureBuilt() {
  if (!existsSync(path.join(ROOT, 'node_modules', 'esbuild')) || !existsSync(path.join(ROOT, 'node_modules', 'azurite'))) {
    throw new Error('the project\'s dependencies are not installed: run `npm install` first');
  }
  const outputs = ['dist/extension.js', 'dist/emulator.js', 'dist/cli.js'].map((f) => path.join(ROOT, f));
  const inputs = ['src', 'webview', 'test/integration/suite', 'package.json', 'tsconfig.json', 'scripts/build.mjs'].map((f) => path.join(ROOT, f));
  const missing = outputs.filter((f) => !existsSync(f));
  const oldestOutput = missing.length ? 0 : Math.min(...outputs.map((f) => statSync(f).mtimeMs));
  const newestInput = Math.max(...inputs.map(newestMtime));
  if (missing.length === 0 && oldestOutput >= newestInput) {
    say('build: dist/ is up to date');
    return;
  }
  say(missing.length ? 'build: dist/ is missing, building (about 10 s)…' : 'build: sources changed since the last build, rebuilding…');
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  if (code !== 0) throw new Error(`the build failed (node scripts/build.mjs exited with ${code})`);
  say(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------- ffmpeg

function findOnPath(name) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch { /* not here */ }
  }
  return undefined;
}

/**
 * The ffmpeg for the sample site and the role: a system ffmpeg on PATH first
 * (newer), else the static binary that `npm install` brought with the npm
 * package @ffmpeg-installer/ffmpeg (its platform package holds the binary).
 */
function chooseFfmpeg() {
  const system = findOnPath('ffmpeg');
  if (system) return { path: system, npm: false, describe: `${system} (the system ffmpeg on PATH)` };
  let installer;
  try {
    installer = createRequire(path.join(ROOT, 'package.json'))('@ffmpeg-installer/ffmpeg');
  } catch (err) {
    throw new Error(
      'ffmpeg was not found: there is none on PATH, and the npm package @ffmpeg-installer/ffmpeg (a dependency of this project) ' +
        `is not installed for ${process.platform}-${process.arch} (${String(err.message).split('\n')[0]}). ` +
        'Run `npm install` again, or install ffmpeg (Debian/Ubuntu: `sudo apt-get install ffmpeg`).',
    );
  }
  const file = installer.path;
  try {
    accessSync(file, constants.X_OK);
  } catch {
    // Its install script (chmod u+x) did not run (npm 11 runs only approved scripts): do its work.
    try {
      chmodSync(file, statSync(file).mode | 0o100);
    } catch (err) {
      throw new Error(`the npm-shipped ffmpeg ${file} is not executable and cannot be made so (${err.code ?? err.message})`);
    }
  }
  const pkg = path.basename(path.dirname(file));
  return {
    path: file,
    npm: true,
    describe: `${file} (npm-shipped ffmpeg ${installer.version ?? ''} from @ffmpeg-installer/${pkg}: no ffmpeg on PATH)`.replace('  ', ' '),
  };
}

// ---------------------------------------------------------------- local service

function serviceRuntime(serviceDir) {
  try {
    const rt = JSON.parse(readFileSync(path.join(serviceDir, 'emulator.json'), 'utf8'));
    return processAlive(rt.pid) ? rt : undefined;
  } catch {
    return undefined;
  }
}

const SERVICE_URL_LINE = /^\s{2}(base URL|token service|OpenID config|document store|key store|agent service|registry|admin|blob \(Azurite\)|connection file)\s{2,}(\S+)\s*$/;

async function startService(opts, dirs) {
  const args = [
    EMULATOR, 'start',
    '--location', dirs.service,
    '--host', '127.0.0.1',
    '--port', String(opts.servicePort),
  ];
  // SIGTERM to the service alone: it stops Azurite itself, saving Azurite's metadata.
  const service = startChild('local service', process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }, {
    group: false,
    stop: (c) => stopGracefully(c, 15_000),
  });
  const { child } = service;
  const urls = {};
  let ready;
  let echo = false;
  const readyLine = new Promise((resolve) => {
    ready = resolve;
  });
  const log = logTo(child, path.join(dirs.logs, 'service.log'), {
    onLine: (line) => {
      const m = SERVICE_URL_LINE.exec(line);
      if (m && !echo) urls[m[1]] = m[2];
      if (line.startsWith('READY ')) {
        try {
          ready(JSON.parse(line.slice(6)));
        } catch { /* not ours */ }
        return;
      }
      // After start, the service's own log (faults, errors) is worth seeing.
      if (echo && line.trim() && !stopping) say(`[service] ${line.replace(/^\[clearance-emulator\] /, '')}`);
    },
  });

  const failed = new Promise((_, reject) => {
    child.once('exit', (code, sig) => {
      const tail = log.tail();
      const taken = /EADDRINUSE[^\n]*?(\d{2,5})\b/.exec(tail);
      reject(new Error(taken
        ? `port ${taken[1]} is in use, so the local service cannot listen on it: choose another with --service-port <n> (0: any free port)\n${lastLines(tail, 4)}`
        : `the local service exited (${code ?? sig}) while starting:\n${lastLines(tail)}`));
    });
  });
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the local service did not get ready within ${SERVICE_READY_TIMEOUT_MS / 1000} s:\n${lastLines(log.tail())}`)), SERVICE_READY_TIMEOUT_MS);
  });
  try {
    const info = await Promise.race([readyLine, failed, timeout]);
    echo = true;
    child.on('exit', (code, sig) => {
      if (!stopping) {
        warn(`the local service stopped unexpectedly (${code ?? sig}); see ${path.join(dirs.logs, 'service.log')}`);
        void shutdown('service exit', 1);
      }
    });
    return { ...info, urls, child };
  } finally {
    clearTimeout(timer);
    failed.catch(() => {});
  }
}

function secureConnectionFile(file) {
  const st = statSync(file);
  if ((st.mode & 0o077) !== 0) {
    chmodSync(file, 0o600);
    warn(`connection file ${file} was readable by others: set to owner-only (0600)`);
  }
  // The folder of secrets is owner-only too.
  try {
    chmodSync(path.dirname(file), 0o700);
  } catch { /* not ours to change */ }
  return (statSync(file).mode & 0o777).toString(8).padStart(4, '0');
}


// ---------------------------------------------------------------- sample site

function countDirs(dir) {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).length;
  } catch {
    return 0;
  }
}

function countRecordings(dir) {
  let n = 0;
  try {
    for (const d of readdirSync(dir, { withFileTypes: true })) {
      if (d.isDirectory()) n += readdirSync(path.join(dir, d.name)).filter((f) => f.endsWith('.mp4')).length;
    }
  } catch { /* none */ }
  return n;
}

function readSite(siteDir) {
  return JSON.parse(readFileSync(path.join(siteDir, 'site.json'), 'utf8'));
}

function siteSummary(siteDir) {
  const site = readSite(siteDir);
  return { name: site.name, cameras: site.cameras.length, recordings: countRecordings(path.join(siteDir, 'recordings')) };
}

function readNotes(siteDir) {
  try {
    return JSON.parse(readFileSync(path.join(siteDir, SITE_NOTES_FILE), 'utf8'));
  } catch {
    return {};
  }
}

function writeNotes(siteDir, notes) {
  writeFileSync(path.join(siteDir, SITE_NOTES_FILE), `${JSON.stringify(notes, null, 2)}\n`);
}

const RECORDING_NAME = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2})(\.\d{1,3})?Z\.mp4$/;

/**
 * The span every camera has recorded. From npm start's notes for a site it
 * made; for an older site, from the recording file names (a file is named after
 * its start; the last one counts for one minute).
 */
function recordedSpan(siteDir) {
  const notes = readNotes(siteDir);
  if (notes.recordings?.from && notes.recordings?.to) return { from: new Date(notes.recordings.from), to: new Date(notes.recordings.to) };
  let from = 0;
  let to = Infinity;
  const dir = path.join(siteDir, 'recordings');
  for (const cam of readdirSync(dir)) {
    const starts = readdirSync(path.join(dir, cam)).map((f) => RECORDING_NAME.exec(f)).filter(Boolean)
      .map((m) => Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}${m[5] ?? ''}Z`)).sort((a, b) => a - b);
    if (!starts.length) continue;
    from = Math.max(from, starts[0]);
    to = Math.min(to, starts.at(-1) + 60_000);
  }
  if (!from || to === Infinity || to <= from) return undefined;
  return { from: new Date(from), to: new Date(to) };
}

/** Seconds per camera-minute of sample video on two cores, measured here: Debian's ffmpeg 5.1 and the npm-shipped 2018 build. */
const SITE_SECONDS_PER_CAMERA_MINUTE = { system: 0.25, npm: 0.52 };

async function ensureSampleSite(opts, dirs, ffmpeg, { alongside = false } = {}) {
  if (existsSync(path.join(dirs.site, 'site.json'))) {
    const s = siteSummary(dirs.site);
    say(`sample site: reusing ${dirs.site} (${s.cameras} cameras, ${s.recordings} recording files)`);
    return { ...s, created: false };
  }
  // Generated next to its final place and renamed when complete, so an interrupted run leaves no half site.
  const partial = `${dirs.site}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const minute = 60_000;
  const start = new Date(Math.floor(Date.now() / minute) * minute - Math.round(opts.siteMinutes * minute));
  const cores = Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const estimateMs = 12 * opts.siteMinutes * SITE_SECONDS_PER_CAMERA_MINUTE[ffmpeg.npm ? 'npm' : 'system'] * 1000 * (2 / Math.min(2, cores)) * (alongside ? 1.2 : 1);
  say(`sample site: recording ${opts.siteMinutes} min of video for each of 12 cameras with ffmpeg (first start only; about ${secs(estimateMs)} on ${cores} cores)…`);
  const started = Date.now();
  const entry = startChild(
    'sample-site generator',
    process.execPath,
    [path.join(ROOT, 'scripts', 'make-sample-site.mjs'), '--folder', partial, '--minutes', String(opts.siteMinutes), '--start', start.toISOString(), '--ffmpeg', ffmpeg.path],
    { stdio: ['ignore', 'pipe', 'pipe'] },
    {
      stop: async (c) => {
        await killTree(c, 2000);
        rmSync(partial, { recursive: true, force: true });
      },
    },
  );
  const { child } = entry;
  const log = logTo(child, path.join(dirs.logs, 'sample-site.log'));
  let shown = -1;
  const progress = () => {
    let total = 12;
    try {
      total = JSON.parse(readFileSync(path.join(partial, 'site.json'), 'utf8')).cameras.length;
    } catch { /* not written yet */ }
    // A camera's folder appears when its recording is complete.
    const done = countDirs(path.join(partial, 'recordings'));
    if (done === shown) return;
    shown = done;
    const elapsed = Date.now() - started;
    const left = done > 0 ? (elapsed / done) * (total - done) : Math.max(0, estimateMs - elapsed);
    say(`sample site: ${done}/${total} cameras recorded (${secs(elapsed)}${done < total ? `, about ${secs(left)} left` : ''})`);
  };
  const timer = setInterval(progress, 1000);
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  clearInterval(timer);
  forget(entry);
  if (stopping) return undefined;
  progress();
  if (code !== 0) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`the sample site could not be generated (exit ${code}):\n${lastLines(log.tail(), 6)}`);
  }
  writeNotes(partial, {
    // A few seconds short of the end: the last frame of a segment is not a full frame interval.
    recordings: { from: start.toISOString(), to: new Date(start.getTime() + opts.siteMinutes * minute - 5000).toISOString() },
    generatedWith: ffmpeg.path,
  });
  renameSync(partial, dirs.site);
  const s = siteSummary(dirs.site);
  say(`sample site: ${s.cameras} cameras, ${s.recordings} recording files in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { ...s, created: true };
}

// ---------------------------------------------------------------- code-server install

/**
 * Installs code-server into .vscode-test/ in a child process (so it can run
 * while the sample site is recorded), echoing its steps with the time so far.
 */
async function installCodeServer(dirs) {
  say(`console: installing code-server ${CODE_SERVER_VERSION} into .vscode-test/ (first start only, ${CODE_SERVER_INSTALL_ESTIMATE}; log ${path.join(dirs.logs, 'code-server-install.log')})…`);
  const started = Date.now();
  const entry = startChild('code-server install', process.execPath, [path.join(ROOT, 'scripts', 'vscode-offline.mjs'), '--code-server'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { child } = entry;
  const log = logTo(child, path.join(dirs.logs, 'code-server-install.log'), {
    onLine: (line) => {
      const m = /^\[vscode-offline\] (step \d\/\d: [^(]{0,70})/.exec(line);
      if (m && !stopping) say(`console: code-server install ${m[1].trim()} (${secs(Date.now() - started)})`);
      if (/^\[vscode-offline\] installing Debian packages/.test(line)) say(`console: ${line.slice(17)}`);
    },
  });
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  forget(entry);
  if (stopping) return false;
  if (code !== 0) {
    const reason = /ERROR: (.*)/.exec(log.tail())?.[1];
    throw new Error(`code-server could not be installed (exit ${code})${reason ? `: ${reason}` : `:\n${lastLines(log.tail())}`}\n  full log: ${path.join(dirs.logs, 'code-server-install.log')}`);
  }
  say(`console: code-server installed in ${secs(Date.now() - started)}`);
  return true;
}

// ---------------------------------------------------------------- the role

function readLock(siteDir) {
  try {
    return JSON.parse(readFileSync(path.join(siteDir, '.clearance-role.lock'), 'utf8'));
  } catch {
    return undefined;
  }
}

function liveLockHolder(siteDir) {
  const lock = readLock(siteDir);
  return lock && processAlive(lock.pid) ? lock : undefined;
}

/** Scripted commands as the sample administrator (the password from an owner-only file). */
function adminCli(dirs, passwordFile) {
  return async (args, { timeoutMs = 60_000 } = {}) => {
    const r = await runToEnd(process.execPath, [CLI, ...args, '--site', dirs.site, '--user', SAMPLE_ADMIN, '--password-file', passwordFile], { timeoutMs });
    if (r.code !== 0) throw new Error(`clearance-role ${args.join(' ')} failed (${r.code}): ${(r.err || r.out).trim().split('\n').slice(-3).join(' ')}`);
    try {
      return JSON.parse(r.out);
    } catch {
      return r.out;
    }
  };
}

/** The sample administrator's password in an owner-only file, for the scripted set-up; removed when npm start ends. */
function writeAdminPasswordFile(dirs) {
  let passwords;
  try {
    passwords = JSON.parse(readFileSync(path.join(dirs.site, 'sample-passwords.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (!passwords[SAMPLE_ADMIN]) return undefined;
  mkdirSync(dirs.run, { recursive: true, mode: 0o700 });
  chmodSync(dirs.run, 0o700);
  const file = path.join(dirs.run, `${SAMPLE_ADMIN}.password`);
  rmSync(file, { force: true });
  writeFileSync(file, `${passwords[SAMPLE_ADMIN]}\n`, { mode: 0o600, flag: 'wx' });
  removeOnExit.add(file);
  return file;
}

async function stopRole(pid, siteDir) {
  if (processAlive(pid)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch { /* gone */ }
    const until = Date.now() + ROLE_STOP_GRACE_MS;
    while (processAlive(pid) && Date.now() < until) await sleep(100);
    if (processAlive(pid)) {
      warn(`the role (pid ${pid}) did not stop within ${ROLE_STOP_GRACE_MS / 1000} s: killing it`);
      for (const target of [-pid, pid]) {
        try {
          process.kill(target, 'SIGKILL');
        } catch { /* gone */ }
      }
      const killed = Date.now() + 5000;
      while (processAlive(pid) && Date.now() < killed) await sleep(100);
    }
  }
  tellWatchdog({ forget: pid });
  // A role that could not release its lock (killed) leaves a stale one: remove it when it is that role's.
  if (readLock(siteDir)?.pid === pid && !processAlive(pid)) rmSync(path.join(siteDir, '.clearance-role.lock'), { force: true });
}

/**
 * Starts the site's role in the background with the account's connection file
 * (imported when new) and the chosen ffmpeg; answers its pid. A role that
 * already runs for the site (someone else's) is used and left running.
 */
async function startRole(dirs, service, ffmpeg) {
  const other = liveLockHolder(dirs.site);
  if (other) {
    say(`role: already running for the site (pid ${other.pid}, ${other.purpose}): npm start uses it and leaves it running`);
    return { pid: other.pid, ours: false, controlPath: other.controlPath };
  }
  say('role: starting the Clearance role for the sample site in the background, with the account\'s connection file…');
  const started = Date.now();
  const r = await runToEnd(process.execPath, [
    CLI, 'run', '--detach', '--site', dirs.site, '--connection', service.connectionFilePath, '--ffmpeg', ffmpeg.path,
  ], { timeoutMs: 150_000 });
  const pid = Number(/pid (\d+)/.exec(r.out)?.[1]);
  if (r.code !== 0 || !pid) throw new Error(`the role did not start (clearance-role run --detach exited ${r.code}):\n${lastLines(`${r.out}\n${r.err}`, 10)}`);
  const entry = { name: 'role', child: { pid }, stop: () => stopRole(pid, dirs.site) };
  running.push(entry);
  // If this script dies without cleaning up, the watchdog stops the role too (and removes the password file).
  tellWatchdog({ watch: { pid, group: false } });
  const lock = readLock(dirs.site);
  say(`role: running (pid ${pid}) in ${secs(Date.now() - started)}; log ${path.join(dirs.site, '.clearance-role', 'role.log')}`);
  return { pid, ours: true, controlPath: lock?.controlPath };
}

/**
 * Once per site: publish one area to the registry and put the administrator on
 * the list of users told of new requests (the operator may change both later;
 * npm start does not undo that). Waits until the registry lists the area.
 */
async function setUpRole(dirs, asAdmin, api) {
  const notes = readNotes(dirs.site);
  const model = readSite(dirs.site);
  const area = model.areas.find((a) => a.name === PUBLISHED_AREA);
  const publishing = !notes.published && Boolean(area);
  if (publishing) {
    const result = await asAdmin(['select', 'add', '--area', PUBLISHED_AREA]);
    notes.published = { area: PUBLISHED_AREA, at: new Date().toISOString() };
    writeNotes(dirs.site, notes);
    say(`role: area "${PUBLISHED_AREA}" selected for the registry (${result.registryCameras?.length ?? '?'} cameras)`);
  }
  if (!notes.notifications) {
    await asAdmin(['notify', '--notify-user', SAMPLE_ADMIN]);
    notes.notifications = { users: [SAMPLE_ADMIN], at: new Date().toISOString() };
    writeNotes(dirs.site, notes);
    say(`role: ${SAMPLE_ADMIN} is told of new video requests (Request Notifications)`);
  }
  // The console should show them "published" from the start: wait for the role's publish to reach the service.
  const wanted = publishing ? model.cameras.filter((c) => c.areaId === area.id).map((c) => c.id) : [];
  const until = Date.now() + 30_000;
  let listed = [];
  for (;;) {
    try {
      listed = await api.registry();
    } catch { /* the service is busy starting: again */ }
    const ids = new Set(listed.map((c) => c.id));
    if (wanted.every((id) => ids.has(id))) break;
    if (Date.now() > until || stopping) {
      warn(`role: the registry lists ${listed.length} camera(s) after 30 s; the Cameras view shows what is still pending`);
      break;
    }
    await sleep(300);
  }
  return listed;
}

/** A fresh one-time sign-in for the sample administrator, in an owner-only file the console reads (and deletes). */
async function writeTicket(dirs) {
  mkdirSync(path.dirname(dirs.ticket), { recursive: true });
  rmSync(dirs.ticket, { force: true });
  const r = await runToEnd(process.execPath, [CLI, 'users', 'sign-in-ticket', SAMPLE_ADMIN, '--site', dirs.site, '--out', dirs.ticket]);
  if (r.code !== 0) throw new Error(`no sign-in ticket for ${SAMPLE_ADMIN} (${r.code}): ${r.err.trim()}`);
  return dirs.ticket;
}

// ---------------------------------------------------------------- demo requests

const DEMO_COMMENTS = [
  { text: 'A visitor reports a laptop bag taken from the lobby seating; please export the footage around the time given.', near: /Lobby|Reception/ },
  { text: 'Tailgating through the north doors reported by the front desk; we need the entry sequence.', near: /Lobby|Reception/ },
  { text: 'Altercation between two visitors near the elevators; both angles if you have them.', near: /Elevator|Stairwell/ },
  { text: 'Fire alarm pulled without cause on level 2; looking for who used the east stairwell at the time.', near: /Stairwell|Elevator/ },
  { text: 'Unauthorized access attempt at the server room door reported by IT; please export the approach and the door.', near: /Server/ },
  { text: 'Suspicious package left unattended near reception; looking for who dropped it.', near: /Reception|Lobby/ },
  { text: 'Shoplifting reported at the main entrance; please export the footage around the incident.', near: /Lobby|Entrance/ },
  { text: 'Vehicle collision in the parking lot, need both approaches.', near: /Parking|Garage/ },
  { text: 'Break-in attempt on the rear door overnight; anything showing the rear of the building helps.', near: /./ },
];
const DEMO_REQUESTERS = ['d.alvarez@metro-police.example', 'k.nguyen@metro-police.example', 's.okafor@county-da.example'];

const pick = (list) => list[randomInt(list.length)];
const shuffled = (list) => {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
};

/**
 * The demo requester of npm start: realistic video requests as an investigator
 * files them, for cameras in the registry, over a range inside the recordings
 * (the service's own `--demo` requester picks ranges relative to now, which the
 * sample site has not recorded after its first start).
 */
class DemoRequests {
  constructor({ api, span, everyMs, log, afterFiled }) {
    Object.assign(this, { api, span, everyMs, log, afterFiled });
    this.filed = 0;
    this.timers = new Set();
    this.waitingSaid = false;
  }

  later(ms, fn) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }

  /** The first request once `first` resolves, then every `everyMs`. */
  start(first) {
    first.then(() => this.tick());
  }

  async tick() {
    if (stopping) return;
    const ok = await this.fileOne();
    // Until one is filed (cameras not published yet, service busy) try again soon.
    this.later(ok ? this.everyMs : 10_000, () => this.tick());
  }

  stop() {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  async fileOne() {
    let registry;
    try {
      registry = await this.api.registry();
    } catch (err) {
      this.log(`could not read the registry: ${err.message}`);
      return false;
    }
    if (registry.length === 0) {
      if (!this.waitingSaid) this.log('no cameras are published to the registry yet: the first request waits for some (tick them in the Cameras view)');
      this.waitingSaid = true;
      return false;
    }
    // The first request: one or two cameras (a quick export); later ones up to three.
    const count = 1 + randomInt(Math.min(this.filed === 0 ? 2 : 3, registry.length));
    const cameras = shuffled(registry).slice(0, count);
    const from = this.span.from.getTime();
    const to = this.span.to.getTime();
    const length = to - from;
    const margin = Math.min(2 * 60_000, length / 4);
    const incident = from + margin + randomInt(Math.max(1, Math.floor(length - 2 * margin)));
    const before = Math.min(incident - from, (1 + randomInt(3)) * 60_000);
    const after = Math.min(to - incident, (1 + randomInt(3)) * 60_000);
    const iso = (ms) => new Date(Math.round(ms / 1000) * 1000).toISOString();
    const names = cameras.map((c) => c.name).join(', ');
    const comment = pick(DEMO_COMMENTS.filter((c) => c.near.test(names))).text;
    try {
      const filed = await this.api.fileRequest({
        cameras: cameras.map((c) => c.id),
        fromUtc: iso(incident - before),
        toUtc: iso(incident + after),
        incidentTimeUtc: iso(incident),
        comments: comment,
        requester: pick(DEMO_REQUESTERS),
      });
      this.filed++;
      const local = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      this.log(`video request ${filed.requestId.slice(0, 8)} filed for ${names} (${local(incident - before)}–${local(incident + after)}, inside the recordings): "${comment}"`);
      await this.afterFiled?.(filed);
      return true;
    } catch (err) {
      this.log(`could not file a request: ${err.message}`);
      return false;
    }
  }
}

/** Resolves once the ticket file is gone (the console signed in with it), or after `ms`. */
function ticketUsed(file, ms) {
  return new Promise((resolve) => {
    const until = Date.now() + ms;
    const check = () => {
      if (stopping) return;
      if (!existsSync(file)) return resolve('signed in');
      if (Date.now() > until) return resolve('timeout');
      setTimeout(check, 500);
    };
    check();
  });
}

// ---------------------------------------------------------------- console

/** Workspace settings of the opened folder: desktop VS Code and code-server both read them. */
function writeWorkspaceSettings(dirs, { ticketFile, ffmpeg }) {
  const settings = {
    'clearance.site.folder': dirs.site,
    ...(ticketFile ? { 'clearance.signInTicketFile': ticketFile } : {}),
    // A role the console starts by itself uses the same ffmpeg as npm start's.
    'clearance.ffmpegPath': ffmpeg.path,
    'files.exclude': { vscode: true, logs: true, run: true, 'service/blob': true, 'service/metadata': true, 'site.partial': true, [`.vscode/${TICKET_FILE_NAME}`]: true },
    'files.watcherExclude': { '**/vscode/**': true, '**/service/**': true, '**/site/recordings/**': true, '**/logs/**': true },
    'search.exclude': { 'site/recordings': true },
  };
  mkdirSync(path.join(dirs.location, '.vscode'), { recursive: true });
  writeFileSync(path.join(dirs.location, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return settings;
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function openDesktop(code, dirs) {
  say(`console: opening desktop VS Code (${code}) with the extension under development (an Extension Development Host; nothing is installed into your profile)…`);
  const child = spawn(code, ['--new-window', `--extensionDevelopmentPath=${ROOT}`, dirs.location], {
    cwd: ROOT,
    env: process.env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const result = await new Promise((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (c, sig) => resolve(c ?? sig));
  });
  if (result !== 0) {
    warn(`console: \`code\` failed (${result}); serving the console with code-server instead`);
    return undefined;
  }
  return { kind: 'desktop', url: undefined };
}

/** The console port: the one asked for; the default falls back to a free one when taken. */
async function consolePort(opts) {
  if (opts.consolePort === 0) return freePort();
  if (await portFree(opts.consolePort)) return opts.consolePort;
  if (opts.consolePortGiven) {
    throw new Error(`port ${opts.consolePort} (the console) is in use: choose another with --port <n> (0: any free port)`);
  }
  const port = await freePort();
  say(`console: port ${opts.consolePort} is in use, using ${port} instead (choose one with --port <n>)`);
  return port;
}

async function startCodeServerConsole(opts, dirs, siteFolder) {
  if (!codeServerInstalled() && !(await installCodeServer(dirs))) return undefined;
  // A profile kept in the data folder: window layout and state survive restarts.
  const profile = path.join(dirs.location, 'vscode');
  const userDataDir = path.join(profile, 'user-data');
  const extensionsDir = path.join(profile, 'extensions');
  for (const d of [path.join(userDataDir, 'User'), extensionsDir]) mkdirSync(d, { recursive: true });
  writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    // The console's folder is a data folder, not a repository: no git work while the extension host starts.
    `${JSON.stringify({ ...QUIET_SETTINGS, 'git.enabled': false, 'clearance.site.folder': siteFolder }, null, 2)}\n`,
  );

  let port = await consolePort(opts);
  for (let attempt = 1; ; attempt++) {
    const entry = startChild('code-server', process.execPath, codeServerArgs({ port, userDataDir, extensionsDir, folder: dirs.location }), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        EXTENSIONS_GALLERY: DEAD_GALLERY,
        // code-server's own config (and a generated password) stay out of the user's home.
        XDG_CONFIG_HOME: path.join(profile, 'config'),
        XDG_DATA_HOME: path.join(profile, 'data'),
      },
    });
    const { child } = entry;
    const log = logTo(child, path.join(dirs.logs, 'code-server.log'));
    const server = { url: `http://127.0.0.1:${port}`, port };
    const deadline = Date.now() + CONSOLE_READY_TIMEOUT_MS;
    let up = false;
    while (!up && !exited(child) && Date.now() < deadline && !stopping) {
      up = (await httpStatus(`${server.url}/healthz`)) === 200;
      if (!up) await sleep(150);
    }
    if (stopping) return undefined;
    if (up) {
      child.on('exit', (code, sig) => {
        if (!stopping) {
          warn(`code-server stopped unexpectedly (${code ?? sig}); see ${path.join(dirs.logs, 'code-server.log')}`);
          void shutdown('code-server exit', 1);
        }
      });
      const url = workbenchUrl(server, { folder: dirs.location, extensionDevelopmentPath: ROOT });
      return { kind: 'code-server', url, baseUrl: server.url, port, child };
    }
    await entry.stop();
    forget(entry);
    // Someone took the port between the check and the start: once more on a free port.
    if (attempt === 1 && /EADDRINUSE/.test(log.tail())) {
      if (opts.consolePortGiven && opts.consolePort !== 0) {
        throw new Error(`port ${port} (the console) is in use: choose another with --port <n> (0: any free port)`);
      }
      port = await freePort();
      say(`console: port taken meanwhile, using ${port} instead (choose one with --port <n>)`);
      continue;
    }
    throw new Error(`code-server did not answer on ${server.url} within ${CONSOLE_READY_TIMEOUT_MS / 1000} s:\n${lastLines(log.tail())}`);
  }
}

// ---------------------------------------------------------------- main

let demo;

async function shutdown(reason, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  demo?.stop();
  for (const c of shortLived) {
    try {
      c.kill('SIGTERM');
    } catch { /* gone */ }
  }
  // In reverse start order, but the console first: a console left running could start a role of its own.
  const order = [...running].reverse().sort((x, y) => Number(y.name === 'code-server') - Number(x.name === 'code-server'));
  say(`\n${reason}: stopping ${order.map((r) => r.name).join(', ') || 'nothing'}…`);
  for (const r of order) {
    try {
      await r.stop();
    } catch (err) {
      warn(`could not stop ${r.name}: ${err.message}`);
    }
  }
  running.length = 0;
  for (const f of removeOnExit) rmSync(f, { force: true });
  tellWatchdog({ done: true });
  say(`stopped. Data stays in ${dataFolder ? relative(dataFolder) : 'the local data folder'} for the next start.`);
  process.exit(exitCode);
}

function forceStop() {
  // A second Ctrl-C: no more waiting.
  for (const r of running) {
    const pids = [r.child.pid, ...descendants(r.child.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
  }
  tellWatchdog({ done: true });
  process.exit(130);
}

function relative(p) {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith('..') ? rel : p;
}

async function main() {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.help) {
    say(USAGE);
    return;
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => (stopping ? forceStop() : void shutdown(sig)));
  }
  dataFolder = opts.location;
  const dirs = folders(opts.location);
  const other = serviceRuntime(dirs.service);
  if (other) {
    throw new Error(`the local service already runs on ${dirs.location} (pid ${other.pid}, ${other.baseUrl}): stop that npm start first, or use --location`);
  }
  const role = liveLockHolder(dirs.site);
  if (opts.fresh && role) {
    throw new Error(`a Clearance role runs for ${dirs.site} (pid ${role.pid}, ${role.purpose}): stop it before --fresh deletes its site`);
  }
  if (opts.servicePort !== 0 && !(await portFree(opts.servicePort))) {
    throw new Error(`port ${opts.servicePort} (the local service) is in use: choose another with --service-port <n> (0: any free port)`);
  }
  if (opts.open && opts.consolePortGiven && opts.consolePort !== 0 && !(await portFree(opts.consolePort))) {
    throw new Error(`port ${opts.consolePort} (the console) is in use: choose another with --port <n> (0: any free port)`);
  }
  if (opts.fresh && existsSync(dirs.location)) {
    say(`fresh start: deleting ${dirs.location}`);
    rmSync(dirs.location, { recursive: true, force: true });
  }
  mkdirSync(dirs.logs, { recursive: true });
  startWatchdog();

  await ensureBuilt();
  if (stopping) return;
  const ffmpeg = chooseFfmpeg();
  say(`ffmpeg: ${ffmpeg.describe}`);

  const desktopCode = opts.open && !opts.forceCodeServer ? findOnPath('code') : undefined;
  const wantCodeServer = opts.open && !desktopCode;

  // Installed already (a warm start): code-server starts now, beside the service and the role
  // (it needs neither, and nobody opens its URL before READY, so no console attaches early).
  let earlyConsole;
  if (wantCodeServer && codeServerInstalled()) {
    writeWorkspaceSettings(dirs, { ffmpeg });
    earlyConsole = startCodeServerConsole(opts, dirs, dirs.site);
    earlyConsole.catch(() => undefined); // awaited below; a failure before then must not be unhandled
  }

  const connectionExisted = existsSync(path.join(dirs.service, 'connections'))
    && readdirSync(path.join(dirs.service, 'connections')).some((f) => f.endsWith('.json'));
  say('service: starting the local Clearance service and Azurite…');
  const service = await startService(opts, dirs);
  if (stopping) return;
  const mode = secureConnectionFile(service.connectionFilePath);
  say(`service: ready at ${service.baseUrl}; account ${connectionExisted ? 'reused' : 'created'}`);

  // The first start records the sample site while code-server installs (one waits on the network, the other on the CPU).
  const installing = wantCodeServer && !codeServerInstalled();
  const [site] = await Promise.all([
    ensureSampleSite(opts, dirs, ffmpeg, { alongside: installing }),
    installing ? installCodeServer(dirs) : undefined,
  ]);
  if (stopping || !site) return;
  const span = recordedSpan(dirs.site);
  const api = await serviceApi(service.connectionFilePath, service.baseUrl);

  let consoleInfo = { kind: 'none', url: undefined };
  let roleInfo;
  let ticketFile;
  let passwordFile;
  let registry = [];
  const roleFlow = async () => {
    roleInfo = await startRole(dirs, service, ffmpeg);
    passwordFile = writeAdminPasswordFile(dirs);
    if (passwordFile) {
      try {
        registry = await setUpRole(dirs, adminCli(dirs, passwordFile), api);
      } catch (err) {
        warn(`role: the set-up as ${SAMPLE_ADMIN} did not go through (${err.message}); the console still works, sign in and tick cameras yourself`);
      }
    } else {
      warn(`role: no password for ${SAMPLE_ADMIN} in ${path.join(dirs.site, 'sample-passwords.json')}: publish cameras from the console`);
    }
    ticketFile = await writeTicket(dirs);
    writeWorkspaceSettings(dirs, { ticketFile, ffmpeg });
  };
  if (opts.open) {
    // Settings first (the console reads them when it opens); code-server starts while the role comes up.
    if (!earlyConsole) writeWorkspaceSettings(dirs, { ffmpeg });
    if (wantCodeServer) {
      const [, cs] = await Promise.all([roleFlow(), earlyConsole ?? startCodeServerConsole(opts, dirs, dirs.site)]);
      consoleInfo = cs;
    } else {
      await roleFlow();
      if (stopping) return;
      consoleInfo = (await openDesktop(desktopCode, dirs)) || (await startCodeServerConsole(opts, dirs, dirs.site));
    }
    if (stopping || !consoleInfo) return;
  } else {
    writeWorkspaceSettings(dirs, { ffmpeg });
    try {
      registry = await api.registry();
    } catch { /* shown as 0 */ }
  }

  const u = service.urls;
  const row = (label, value) => `  ${label.padEnd(17)}${value}`;
  const passwordsFile = path.join(dirs.site, 'sample-passwords.json');
  const lines = ['', 'Clearance Console is ready.'];
  if (consoleInfo.kind === 'code-server') {
    lines.push(row('console', consoleInfo.url));
    lines.push(row('', `open this URL in a browser: no password is needed on loopback (code-server listens on 127.0.0.1 only, ${consoleInfo.baseUrl})`));
    lines.push(row('', `VS Code 1.100 with the extension loaded from ${ROOT}`));
  } else if (consoleInfo.kind === 'desktop') {
    lines.push(row('console', 'a desktop VS Code window (Extension Development Host) with the folder below'));
  } else {
    lines.push(row('console', 'not opened (--no-open); run the role headless with `npm run role`'));
  }
  if (roleInfo) {
    lines.push(row('signed in', ticketFile
      ? `the console signs in as ${SAMPLE_ADMIN} (Administrator) by itself, with a one-time ticket (${ticketFile}, valid 24 h)`
      : 'sign in from the console (Clearance: Sign In…)'));
    lines.push(row('role', `${roleInfo.ours ? 'started' : 'already running'} in the background (pid ${roleInfo.pid}), account imported; log ${path.join(dirs.site, '.clearance-role', 'role.log')}`));
  }
  lines.push(row('registry', `${registry.length} camera(s) published${registry.length ? ` (${[...new Set(registry.map((c) => c.name))].slice(0, 6).join(', ')}${registry.length > 6 ? ', …' : ''})` : ''}`));
  lines.push(row('local service', service.baseUrl));
  for (const [label, key] of [
    ['  token service', 'token service'],
    ['  OpenID config', 'OpenID config'],
    ['  agent service', 'agent service'],
    ['  document store', 'document store'],
    ['  key store', 'key store'],
    ['  registry', 'registry'],
    ['  admin', 'admin'],
    ['  blob (Azurite)', 'blob (Azurite)'],
  ]) {
    if (u[key]) lines.push(row(label, u[key]));
  }
  lines.push(row('connection file', service.connectionFilePath));
  lines.push(row('', `SECRET: it holds the integration's private key. Owner-only (mode ${mode}); never share or commit it.`));
  lines.push(row('site folder', `${dirs.site} (${site.name}: ${site.cameras} cameras, ${site.recordings} recording files${span ? `, recorded ${span.from.toLocaleString()} – ${span.to.toLocaleTimeString()}` : ''})`));
  lines.push(row('site users', existsSync(passwordsFile)
    ? `admin, mchen, jrivera, tbrooks; their passwords: ${passwordsFile} (owner-only)`
    : `set a password with: node dist/cli.js users set-password admin --site ${dirs.site}`));
  lines.push(row('ffmpeg', ffmpeg.describe));
  lines.push(row('workspace', `${dirs.location} (its .vscode/settings.json sets clearance.site.folder${ticketFile ? ' and clearance.signInTicketFile' : ''})`));
  lines.push(row('demo requests', opts.demoSeconds > 0 && span
    ? `the first ${opts.demoFirstSeconds} s after the console has signed in (at the latest ${DEMO_FIRST_AT_THE_LATEST_MS / 1000} s from now), then every ${opts.demoSeconds} s, over ranges inside the recordings`
    : 'off'));
  lines.push(row('logs', dirs.logs));
  lines.push('');
  lines.push(consoleInfo.kind === 'desktop'
    ? 'Press Ctrl+C to stop the role, the local service and Azurite (close the VS Code window yourself).'
    : 'Press Ctrl+C to stop everything (console, role, local service, Azurite).');
  lines.push(`Data stays in ${relative(dirs.location)} for the next start; \`npm start -- --fresh\` starts over.`);
  for (const l of lines) say(l);
  // One machine-readable line for scripts and tests.
  say(`READY ${JSON.stringify({
    pid: process.pid,
    console: consoleInfo.kind,
    consoleUrl: consoleInfo.url ?? null,
    consolePort: consoleInfo.port ?? null,
    serviceUrl: service.baseUrl,
    openIdConfiguration: `${service.baseUrl}/.well-known/openid-configuration`,
    blobUrl: u['blob (Azurite)'] ?? null,
    connectionFile: service.connectionFilePath,
    siteFolder: dirs.site,
    location: dirs.location,
    passwordsFile,
    ffmpeg: ffmpeg.path,
    ffmpegFromNpm: ffmpeg.npm,
    role: roleInfo ? { pid: roleInfo.pid, ours: roleInfo.ours, controlPath: roleInfo.controlPath ?? null } : null,
    ticketFile: ticketFile ?? null,
    registryCameras: registry.length,
    recordings: span ? { from: span.from.toISOString(), to: span.to.toISOString() } : null,
  })}`);

  if (opts.demoSeconds > 0 && span) {
    const asAdmin = passwordFile && roleInfo ? adminCli(dirs, passwordFile) : undefined;
    demo = new DemoRequests({
      api,
      span,
      everyMs: opts.demoSeconds * 1000,
      log: (m) => !stopping && say(`[demo] ${m}`),
      // The role need not wait for its next poll (every 30 s by default): ask it to poll now.
      afterFiled: asAdmin ? () => asAdmin(['poll']).catch((err) => say(`[demo] (poll now: ${err.message})`)) : undefined,
    });
    const first = (ticketFile ? ticketUsed(ticketFile, DEMO_FIRST_AT_THE_LATEST_MS) : sleep(DEMO_FIRST_AT_THE_LATEST_MS))
      .then((why) => (why === 'signed in' ? sleep(opts.demoFirstSeconds * 1000) : undefined));
    demo.start(first);
  }
}

// ---------------------------------------------------------------- npm run role

/**
 * `npm run role`: the headless runner (`clearance-role run`) in the foreground,
 * for the sample site and the account of npm start's local service; other
 * options go to `clearance-role run` as they are.
 */
async function roleMain(argv) {
  let location = path.join(ROOT, '.clearance-local');
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--location') location = path.resolve(argv[++i] ?? '');
    else if (argv[i].startsWith('--location=')) location = path.resolve(argv[i].slice(11));
    else if (argv[i] === '--help' || argv[i] === '-h') {
      say('Usage: npm run role [-- --location <dir>] [-- <clearance-role run options, e.g. --verbose>]\n\n'
        + 'Runs the role headless in the foreground (its log on this terminal) for the sample site of npm start\n'
        + 'and the account of its local service. Ctrl+C stops it. `npm start -- --no-open` runs the service alone.');
      return 0;
    } else rest.push(argv[i]);
  }
  const dirs = folders(location);
  if (!existsSync(path.join(dirs.site, 'site.json'))) {
    throw new Error(`there is no sample site in ${dirs.site} yet: run \`npm start\` (or \`npm start -- --no-open\`) once first`);
  }
  const connections = path.join(dirs.service, 'connections');
  const connection = existsSync(connections) ? readdirSync(connections).filter((f) => f.endsWith('.json')).map((f) => path.join(connections, f))[0] : undefined;
  const holder = liveLockHolder(dirs.site);
  if (holder) {
    throw new Error(`a Clearance role already runs for ${dirs.site} (pid ${holder.pid}, ${holder.purpose}); only one may run per site. `
      + 'Stop it first (an `npm start` with a console runs one: use `npm start -- --no-open` to run the service alone)');
  }
  await ensureBuilt();
  const ffmpeg = chooseFfmpeg();
  say(`ffmpeg: ${ffmpeg.describe}`);
  const service = serviceRuntime(dirs.service);
  if (!service) warn(`the local service is not running on ${dirs.location}: the role keeps trying to reach it (start it with \`npm start -- --no-open\` in another terminal)`);
  else say(`service: ${service.baseUrl}`);
  const args = [CLI, 'run', '--site', dirs.site, ...(connection ? ['--connection', connection] : []), '--ffmpeg', ffmpeg.path, ...rest];
  say(`role: node ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : path.isAbsolute(a) ? relative(a) : a)).join(' ')}`);
  // Its own process group: a terminal's Ctrl-C reaches this script only, which passes it on once
  // (a second signal to the runner would make it exit at once instead of stopping cleanly).
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'inherit', detached: true });
  let passed = false;
  const pass = () => {
    if (passed) return;
    passed = true;
    try {
      child.kill('SIGTERM');
    } catch { /* gone */ }
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, pass);
  return new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0))));
}

if (process.argv[2] === 'role') {
  roleMain(process.argv.slice(3)).then(
    (code) => process.exit(code),
    (err) => {
      warn(`npm run role: ${err.message}`);
      process.exit(1);
    },
  );
} else {
  main().catch(async (err) => {
    const usage = err instanceof UsageError;
    warn(`npm start: ${err.message}`);
    if (usage) warn(`\n${USAGE}`);
    if (stopping) return;
    if (running.length === 0) {
      tellWatchdog({ done: true });
      process.exit(usage ? 2 : 1);
    }
    await shutdown('error', 1);
  });
}
