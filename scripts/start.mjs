#!/usr/bin/env node
// `npm start`: the embedded default in one command. Builds if needed, starts
// the local Clearance service (with Azurite) on loopback, makes sure the
// account's connection file and the sample site exist, and opens the console:
// desktop VS Code when `code` is on PATH, otherwise code-server. Everything
// lives in .clearance-local/ (gitignored) and is reused on the next start.
// Ctrl-C (or SIGTERM) stops every process it started.
import { spawn } from 'node:child_process';
import {
  accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync,
  rmSync, statSync, writeFileSync, writeSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEAD_GALLERY, QUIET_SETTINGS, codeServerArgs, descendants, freePort, httpStatus, killTree, workbenchUrl } from './code-server.mjs';
import {
  CODE_SERVER_VERSION, ROOT, codeServerInstalled, ensureCodeServer, ensureDebianPackages,
} from './vscode-offline.mjs';

const USAGE = `Usage: npm start [-- options]
       node scripts/start.mjs [options]

  --port <n>           console (code-server) port on 127.0.0.1; default 8080, 0 for any free port.
                       A port that is taken falls back to a free one (the URL is printed).
  --code-server        serve the console with code-server even when desktop VS Code (\`code\`) is on PATH
  --no-open            start the service and the sample site only, no console
  --fresh              delete the local data folder first (new account, new connection file, new site)
  --location <dir>     local data folder (default: .clearance-local in the repository)
  --service-port <n>   port of the local service (default 0: the previous run's port when free)
  --demo <seconds>     file a demo video request every N seconds once cameras are published (default 120, 0: off)
  --site-minutes <n>   minutes of recordings per camera in a new sample site (default 30)
  --help               this text`;

const DEFAULT_CONSOLE_PORT = 8080;
const DEFAULT_DEMO_SECONDS = 120;
const DEFAULT_SITE_MINUTES = 20;
const SERVICE_READY_TIMEOUT_MS = 60_000;
const CONSOLE_READY_TIMEOUT_MS = 90_000;
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
    for (const w of watched.values()) send(-w.pid, 'SIGKILL');
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
        'site-minutes': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  const port = (flag, fallback) => {
    const raw = values[flag];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > 65535) throw new UsageError(`--${flag} must be a port number from 0 to 65535, found ${JSON.stringify(raw)}`);
    return n;
  };
  const demoRaw = values.demo;
  if (demoRaw !== undefined && !/^\d+$/.test(demoRaw)) throw new UsageError(`--demo must be a whole number of seconds (0: off), found ${JSON.stringify(demoRaw)}`);
  const minutesRaw = values['site-minutes'];
  const siteMinutes = minutesRaw === undefined ? DEFAULT_SITE_MINUTES : Number(minutesRaw);
  if (!Number.isFinite(siteMinutes) || siteMinutes <= 0 || siteMinutes > 24 * 60) {
    throw new UsageError(`--site-minutes must be a number of minutes above 0 and at most 1440, found ${JSON.stringify(minutesRaw)}`);
  }
  return {
    help: Boolean(values.help),
    consolePort: port('port', DEFAULT_CONSOLE_PORT),
    servicePort: port('service-port', 0),
    forceCodeServer: Boolean(values['code-server']),
    open: !values['no-open'],
    fresh: Boolean(values.fresh),
    location: path.resolve(values.location ?? path.join(ROOT, '.clearance-local')),
    demoSeconds: demoRaw === undefined ? DEFAULT_DEMO_SECONDS : Number(demoRaw),
    siteMinutes,
  };
}

// ---------------------------------------------------------------- processes

/** What runs, in start order; stopped in reverse. */
const running = [];
let stopping = false;
let dataFolder;

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}


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
  const outputs = ['dist/extension.js', 'dist/emulator.js'].map((f) => path.join(ROOT, f));
  const inputs = ['src', 'webview', 'test/integration/suite', 'package.json', 'tsconfig.json', 'scripts/build.mjs'].map((f) => path.join(ROOT, f));
  const missing = outputs.filter((f) => !existsSync(f));
  const oldestOutput = missing.length ? 0 : Math.min(...outputs.map((f) => statSync(f).mtimeMs));
  const newestInput = Math.max(...inputs.map(newestMtime));
  if (missing.length === 0 && oldestOutput >= newestInput) {
    say('build: dist/ is up to date');
    return;
  }
  say(missing.length ? 'build: dist/ is missing, building…' : 'build: sources changed since the last build, rebuilding…');
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  if (code !== 0) throw new Error(`the build failed (node scripts/build.mjs exited with ${code})`);
  say(`build: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
    path.join(ROOT, 'dist', 'emulator.js'), 'start',
    '--location', dirs.service,
    '--host', '127.0.0.1',
    '--port', String(opts.servicePort),
    ...(opts.demoSeconds > 0 ? ['--demo', String(opts.demoSeconds)] : []),
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
      // After start, the service's own log (requests filed, faults, errors) is worth seeing.
      if (echo && line.trim() && !stopping) say(`[service] ${line.replace(/^\[clearance-emulator\] /, '')}`);
    },
  });

  const failed = new Promise((_, reject) => {
    child.once('exit', (code, sig) => reject(new Error(`the local service exited (${code ?? sig}) while starting:\n${lastLines(log.tail())}`)));
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

function siteSummary(siteDir) {
  const site = JSON.parse(readFileSync(path.join(siteDir, 'site.json'), 'utf8'));
  return { name: site.name, cameras: site.cameras.length, recordings: countRecordings(path.join(siteDir, 'recordings')) };
}

async function ensureSampleSite(opts, dirs) {
  if (existsSync(path.join(dirs.site, 'site.json'))) {
    const s = siteSummary(dirs.site);
    say(`sample site: reusing ${dirs.site} (${s.cameras} cameras, ${s.recordings} recording files)`);
    return { ...s, created: false };
  }
  // Generated next to its final place and renamed when complete, so an interrupted run leaves no half site.
  const partial = `${dirs.site}.partial`;
  rmSync(partial, { recursive: true, force: true });
  say(`sample site: recording ${opts.siteMinutes} min of video per camera with ffmpeg (first start only)…`);
  const started = Date.now();
  const entry = startChild(
    'sample-site generator',
    process.execPath,
    [path.join(ROOT, 'scripts', 'make-sample-site.mjs'), '--folder', partial, '--minutes', String(opts.siteMinutes)],
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
  const tty = process.stdout.isTTY;
  let shown = -1;
  const progress = () => {
    let total = 12;
    try {
      total = JSON.parse(readFileSync(path.join(partial, 'site.json'), 'utf8')).cameras.length;
    } catch { /* not written yet */ }
    const done = countDirs(path.join(partial, 'recordings'));
    if (done === shown) return;
    shown = done;
    const line = `sample site: ${done}/${total} cameras recorded (${Math.round((Date.now() - started) / 1000)} s)`;
    if (tty) process.stdout.write(`\r${line}`);
    else say(line);
  };
  const timer = setInterval(progress, 1000);
  const code = await new Promise((resolve) => child.once('exit', (c, sig) => resolve(c ?? sig)));
  clearInterval(timer);
  forget(entry);
  if (stopping) return undefined;
  progress();
  if (tty) process.stdout.write('\n');
  if (code !== 0) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`the sample site could not be generated (exit ${code}):\n${lastLines(log.tail(), 6)}`);
  }
  renameSync(partial, dirs.site);
  const s = siteSummary(dirs.site);
  say(`sample site: ${s.cameras} cameras, ${s.recordings} recording files in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return { ...s, created: true };
}

// ---------------------------------------------------------------- console

/** Workspace settings of the opened folder: desktop VS Code and code-server both read them. */
function writeWorkspaceSettings(dirs) {
  const settings = {
    'clearance.site.folder': dirs.site,
    'files.exclude': { vscode: true, logs: true, 'service/blob': true, 'service/metadata': true, 'site.partial': true },
    'files.watcherExclude': { '**/vscode/**': true, '**/service/**': true, '**/site/recordings/**': true, '**/logs/**': true },
    'search.exclude': { 'site/recordings': true },
  };
  mkdirSync(path.join(dirs.location, '.vscode'), { recursive: true });
  writeFileSync(path.join(dirs.location, '.vscode', 'settings.json'), `${JSON.stringify(settings, null, 2)}\n`);
  return settings;
}

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

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

async function openDesktop(code, dirs, env) {
  say(`console: opening desktop VS Code (${code}) with the extension under development…`);
  const child = spawn(code, ['--new-window', `--extensionDevelopmentPath=${ROOT}`, dirs.location], {
    cwd: ROOT,
    env: { ...process.env, ...env },
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

async function startCodeServerConsole(opts, dirs, env, siteFolder) {
  if (!codeServerInstalled()) {
    say(`console: installing code-server ${CODE_SERVER_VERSION} into .vscode-test/ (first start only, a few minutes)…`);
    ensureDebianPackages(['libkrb5-dev', 'ripgrep']);
  }
  await ensureCodeServer();
  // A profile kept in the data folder: window layout and state survive restarts.
  const profile = path.join(dirs.location, 'vscode');
  const userDataDir = path.join(profile, 'user-data');
  const extensionsDir = path.join(profile, 'extensions');
  for (const d of [path.join(userDataDir, 'User'), extensionsDir]) mkdirSync(d, { recursive: true });
  writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    `${JSON.stringify({ ...QUIET_SETTINGS, 'clearance.site.folder': siteFolder }, null, 2)}\n`,
  );

  let port = opts.consolePort === 0 ? await freePort() : opts.consolePort;
  if (opts.consolePort !== 0 && !(await portFree(port))) {
    port = await freePort();
    say(`console: port ${opts.consolePort} is taken, using ${port} instead`);
  }
  for (let attempt = 1; ; attempt++) {
    const entry = startChild('code-server', process.execPath, codeServerArgs({ port, userDataDir, extensionsDir, folder: dirs.location }), {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...env,
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
      if (!up) await new Promise((r) => setTimeout(r, 250));
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
      port = await freePort();
      say(`console: port taken meanwhile, using ${port} instead`);
      continue;
    }
    throw new Error(`code-server did not answer on ${server.url} within ${CONSOLE_READY_TIMEOUT_MS / 1000} s:\n${lastLines(log.tail())}`);
  }
}

// ---------------------------------------------------------------- main

async function shutdown(reason, exitCode = 0) {
  if (stopping) return;
  stopping = true;
  say(`\n${reason}: stopping ${running.map((r) => r.name).reverse().join(', ') || 'nothing'}…`);
  for (const r of [...running].reverse()) {
    try {
      await r.stop();
    } catch (err) {
      warn(`could not stop ${r.name}: ${err.message}`);
    }
  }
  running.length = 0;
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
  const dirs = {
    location: opts.location,
    service: path.join(opts.location, 'service'),
    site: path.join(opts.location, 'site'),
    logs: path.join(opts.location, 'logs'),
  };
  const other = serviceRuntime(dirs.service);
  if (other) {
    throw new Error(`the local service already runs on ${dirs.location} (pid ${other.pid}, ${other.baseUrl}): stop that npm start first, or use --location`);
  }
  if (opts.fresh && existsSync(dirs.location)) {
    say(`fresh start: deleting ${dirs.location}`);
    rmSync(dirs.location, { recursive: true, force: true });
  }
  mkdirSync(dirs.logs, { recursive: true });
  startWatchdog();

  await ensureBuilt();
  if (stopping) return;

  const connectionExisted = existsSync(path.join(dirs.service, 'connections'))
    && readdirSync(path.join(dirs.service, 'connections')).some((f) => f.endsWith('.json'));
  say('service: starting the local Clearance service and Azurite…');
  const service = await startService(opts, dirs);
  if (stopping) return;
  const mode = secureConnectionFile(service.connectionFilePath);
  say(`service: ready at ${service.baseUrl}; account ${connectionExisted ? 'reused' : 'created'}`);

  const site = await ensureSampleSite(opts, dirs);
  if (stopping || !site) return;
  writeWorkspaceSettings(dirs);

  // The extension host inherits these; a later version of the console can connect with them.
  const consoleEnv = {
    CLEARANCE_SERVICE_URL: service.baseUrl,
    CLEARANCE_CONNECTION_FILE: service.connectionFilePath,
    CLEARANCE_SITE_FOLDER: dirs.site,
  };
  let consoleInfo = { kind: 'none', url: undefined };
  if (opts.open) {
    const code = opts.forceCodeServer ? undefined : findOnPath('code');
    consoleInfo = (code && (await openDesktop(code, dirs, consoleEnv))) || (await startCodeServerConsole(opts, dirs, consoleEnv, dirs.site));
    if (stopping || !consoleInfo) return;
  }

  const u = service.urls;
  const row = (label, value) => `  ${label.padEnd(17)}${value}`;
  const lines = ['', 'Clearance Console is ready.'];
  if (consoleInfo.kind === 'code-server') {
    lines.push(row('console', consoleInfo.url));
    lines.push(row('', `(code-server at ${consoleInfo.baseUrl}, VS Code 1.100, extension loaded from ${ROOT}; open this URL in a browser)`));
  } else if (consoleInfo.kind === 'desktop') {
    lines.push(row('console', 'a desktop VS Code window (Extension Development Host) with the folder below'));
  } else {
    lines.push(row('console', 'not opened (--no-open)'));
  }
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
  lines.push(row('site folder', `${dirs.site} (${site.name}: ${site.cameras} cameras, ${site.recordings} recording files)`));
  const passwordsFile = path.join(dirs.site, 'sample-passwords.json');
  lines.push(row('site users', existsSync(passwordsFile)
    ? `admin, mchen, jrivera, tbrooks; their passwords: ${passwordsFile} (owner-only)`
    : `set a password with: node dist/cli.js users set-password admin --site ${dirs.site}`));
  lines.push(row('workspace', `${dirs.location} (clearance.site.folder is set in its .vscode/settings.json)`));
  lines.push(row('demo requests', opts.demoSeconds > 0
    ? `every ${opts.demoSeconds} s, once cameras are published to the service's registry`
    : 'off'));
  lines.push(row('logs', dirs.logs));
  lines.push('');
  lines.push(consoleInfo.kind === 'desktop'
    ? 'Press Ctrl+C to stop the local service and Azurite (close the VS Code window yourself).'
    : 'Press Ctrl+C to stop everything (console, local service, Azurite).');
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
  })}`);
}

main().catch(async (err) => {
  const usage = err instanceof UsageError;
  warn(`npm start: ${err.message}`);
  if (usage) warn(`\n${USAGE}`);
  if (stopping) return;
  if (running.length === 0) process.exit(usage ? 2 : 1);
  await shutdown('error', 1);
});
