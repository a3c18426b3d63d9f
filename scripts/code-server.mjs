// Starts code-server (installed by scripts/vscode-offline.mjs) on a free
// loopback port with throw-away user data, and headless Debian Chromium to
// open its workbench. Shared by the integration tests, the UI tests and
// `npm start`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CHROMIUM_PATH, CODE_SERVER_ENTRY } from './vscode-offline.mjs';

/** Settings every test profile starts with: nothing may cover the UI or reach the internet. */
export const QUIET_SETTINGS = {
  'workbench.startupEditor': 'none',
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'workbench.settings.enableNaturalLanguageSearch': false,
  'workbench.secondarySideBar.defaultVisibility': 'hidden',
  'chat.commandCenter.enabled': false,
  'telemetry.telemetryLevel': 'off',
  'security.workspace.trust.enabled': false,
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'git.autofetch': false,
  'git.openRepositoryInParentFolders': 'never',
  'npm.fetchOnlinePackageInfo': false,
  'typescript.disableAutomaticTypeAcquisition': true,
};

/** Chromium flags: root needs --no-sandbox; the rest keep it off the internet. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-default-apps',
  '--disable-dev-shm-usage',
];

// The extension gallery (Open VSX in code-server's product.json) is replaced by
// a closed loopback port so nothing leaves the machine.
export const DEAD_GALLERY = JSON.stringify({
  serviceUrl: 'http://127.0.0.1:9/gallery',
  itemUrl: 'http://127.0.0.1:9/items',
  resourceUrlTemplate: 'http://127.0.0.1:9/resource/{publisher}/{name}/{version}/{path}',
});

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** The status of a GET, or 0 when nothing answers (2 s limit). */
export function httpStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(2000, () => req.destroy());
  });
}

/** code-server's command line: loopback only, no auth, no telemetry or update checks. */
export function codeServerArgs({ port, userDataDir, extensionsDir, folder }) {
  return [
    CODE_SERVER_ENTRY,
    '--auth', 'none',
    '--bind-addr', `127.0.0.1:${port}`,
    '--user-data-dir', userDataDir,
    '--extensions-dir', extensionsDir,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    folder,
  ];
}

/** Every process below pid (ps). */
export function descendants(pid) {
  const r = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const children = new Map();
  for (const line of r.stdout.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (!children.has(pp)) children.set(pp, []);
    children.get(pp).push(p);
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch { /* already gone */ }
}

/** Kills a process, its process group and every descendant (terminals run in their own sessions). */
export async function killTree(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const pids = descendants(child.pid);
  signal(-child.pid, 'SIGTERM');
  for (const p of pids) signal(p, 'SIGTERM');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const timer = new Promise((resolve) => setTimeout(resolve, graceMs, 'timeout'));
  if ((await Promise.race([exited, timer])) === 'timeout') {
    signal(-child.pid, 'SIGKILL');
    await exited;
  }
  for (const p of [...pids, ...descendants(child.pid)]) signal(p, 'SIGKILL');
}

/**
 * Installs a packaged extension into an extensions folder with code-server's CLI.
 * @param {string} vsix path of the .vsix
 * @param {string} extensionsDir
 */
export function installVsix(vsix, extensionsDir) {
  const r = spawnSync(process.execPath, [CODE_SERVER_ENTRY, '--extensions-dir', extensionsDir, '--install-extension', path.resolve(vsix)], {
    encoding: 'utf8',
    env: { ...process.env, EXTENSIONS_GALLERY: DEAD_GALLERY },
  });
  if (r.status !== 0) {
    throw new Error(`installing ${vsix} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout.trim();
}

/**
 * Starts code-server on a free 127.0.0.1 port.
 * @param {object} [options]
 * @param {string} [options.folder] workspace folder to open (default: an empty temp folder)
 * @param {Record<string, unknown>} [options.settings] user settings on top of QUIET_SETTINGS
 * @param {Record<string, string>} [options.env] extra environment; the extension host inherits it
 * @param {string} [options.vsix] packaged extension to install before starting
 * @param {number} [options.timeoutMs] how long to wait for HTTP (default 60 s)
 * @param {boolean} [options.echo] copy code-server's output to this process's stderr
 */
export async function startCodeServer(options = {}) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'clearance-vscode-'));
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = path.join(tmp, 'extensions');
  const folder = options.folder ?? path.join(tmp, 'workspace');
  for (const d of [path.join(userDataDir, 'User'), extensionsDir, folder]) mkdirSync(d, { recursive: true });
  writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    `${JSON.stringify({ ...QUIET_SETTINGS, ...(options.settings ?? {}) }, null, 2)}\n`,
  );
  const cleanupTmp = () => rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });

  try {
    if (options.vsix) installVsix(options.vsix, extensionsDir);
  } catch (err) {
    cleanupTmp();
    throw err;
  }

  const port = await freePort();
  const args = codeServerArgs({ port, userDataDir, extensionsDir, folder });
  const env = {
    ...process.env,
    EXTENSIONS_GALLERY: DEAD_GALLERY,
    // Keep code-server's own config (and its generated password) out of the user's home.
    XDG_CONFIG_HOME: path.join(tmp, 'config'),
    XDG_DATA_HOME: path.join(tmp, 'data'),
    ...(options.env ?? {}),
  };
  const child = spawn(process.execPath, args, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
    if (output.length > 200_000) output = output.slice(-100_000);
    if (options.echo) process.stderr.write(chunk);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    await killTree(child);
    cleanupTmp();
  };
  // Last resort when the runner dies without calling stop().
  const onExit = () => {
    signal(-child.pid, 'SIGKILL');
    cleanupTmp();
  };
  process.on('exit', onExit);

  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`code-server exited (${child.exitCode ?? child.signalCode}) before answering HTTP:\n${output}`);
    }
    const status = await httpStatus(`${url}/healthz`);
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`code-server did not answer on ${url} within ${options.timeoutMs ?? 60_000} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    port,
    url,
    folder,
    userDataDir,
    extensionsDir,
    pid: child.pid,
    /** code-server's output so far (for failure reports). */
    output: () => output,
    stop,
  };
}

/**
 * Workbench URL that opens `folder` and, optionally, loads a development
 * extension and runs an extension test entry (paths on the server's disk).
 * @param {{url: string, port: number}} server
 * @param {{folder: string, extensionDevelopmentPath?: string, extensionTestsPath?: string}} target
 */
export function workbenchUrl(server, { folder, extensionDevelopmentPath, extensionTestsPath }) {
  const remote = (p) => `vscode-remote://127.0.0.1:${server.port}${path.resolve(p)}`;
  const payload = [];
  if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(extensionDevelopmentPath)]);
  if (extensionTestsPath) payload.push(['extensionTestsPath', remote(extensionTestsPath)]);
  const q = new URLSearchParams({ folder: path.resolve(folder) });
  if (payload.length) q.set('payload', JSON.stringify(payload));
  return `${server.url}/?${q.toString()}`;
}

/**
 * Headless Debian Chromium through playwright-core.
 * @param {{headless?: boolean}} [options]
 */
export async function launchChromium(options = {}) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: options.headless ?? true,
    args: CHROMIUM_ARGS,
  });
}
