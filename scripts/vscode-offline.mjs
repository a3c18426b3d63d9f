// Installs what the in-VS-Code tests need on a machine without internet
// (see docs/offline-vscode-tests.md): Debian's chromium, libkrb5-dev, ripgrep
// and the tools code-server's native rebuilds need (g++, make, python3), and
// code-server (VS Code 1.100 as a Node server) from the npm registry into
// .vscode-test/code-server/, outside the project's dependencies.
//
//   node scripts/vscode-offline.mjs                install both, print the code-server entry
//   node scripts/vscode-offline.mjs --code-server  only what code-server needs (no chromium): `npm start`
//   node scripts/vscode-offline.mjs --check        only report what is missing (exit 1 if anything is)
import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync, chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, lstatSync, writeFileSync, unlinkSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const CODE_SERVER_VERSION = '4.100.3';
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CODE_SERVER_DIR = path.join(ROOT, '.vscode-test', 'code-server');
export const CODE_SERVER_PACKAGE = path.join(CODE_SERVER_DIR, 'node_modules', 'code-server');
export const CODE_SERVER_ENTRY = path.join(CODE_SERVER_PACKAGE, 'out', 'node', 'entry.js');
export const CHROMIUM_PATH = '/usr/bin/chromium';
/** What code-server needs: kerberos builds against libkrb5-dev, ripgrep is VS Code's search, the native rebuilds need a compiler. */
export const CODE_SERVER_DEBIAN_PACKAGES = ['libkrb5-dev', 'ripgrep', 'g++', 'make', 'python3'];
/** The tests also drive the workbench with Debian's Chromium. */
export const DEBIAN_PACKAGES = ['chromium', ...CODE_SERVER_DEBIAN_PACKAGES];
/** How long a first install takes on these machines (2 cores, npm cache cold): measured about 110 s. */
export const CODE_SERVER_INSTALL_ESTIMATE = 'about 2 minutes';

const MARKER = path.join(CODE_SERVER_DIR, '.installed.json');
const LOCK = path.join(ROOT, '.vscode-test', 'code-server.lock');
// Native modules of VS Code's server; their binaries only come from install scripts.
const VSCODE_NATIVE_MODULES = ['@parcel/watcher', '@vscode/spdlog', 'kerberos', 'native-watchdog', 'node-pty', '@vscode/deviceid'];

function log(message) {
  console.log(`[vscode-offline] ${message}`);
}

let installStarted = 0;
function step(message) {
  const elapsed = installStarted ? ` (${Math.round((Date.now() - installStarted) / 1000)} s so far)` : '';
  log(`${message}${elapsed}`);
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function dpkgInstalled(pkg) {
  const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('install ok installed');
}

/** Packages of DEBIAN_PACKAGES that are not installed. Throws where dpkg does not exist. */
export function missingDebianPackages(packages = DEBIAN_PACKAGES) {
  if (spawnSync('dpkg-query', ['--version']).error) {
    throw new Error('dpkg-query not found: the offline VS Code tests need Debian (or Ubuntu) with apt.');
  }
  return packages.filter((p) => !dpkgInstalled(p));
}

/**
 * Makes sure the packages (default: DEBIAN_PACKAGES) are installed. As root it
 * runs apt-get; otherwise it throws naming the exact command to run.
 */
export function ensureDebianPackages(packages = DEBIAN_PACKAGES) {
  const missing = missingDebianPackages(packages);
  if (missing.length === 0) return;
  const command = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!isRoot()) {
    throw new Error(`Missing Debian packages: ${missing.join(', ')}. Run as root: sudo sh -c '${command}'`);
  }
  log(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], { env });
  run('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { env });
  const still = missingDebianPackages(packages);
  if (still.length) throw new Error(`apt-get finished but these packages are still missing: ${still.join(', ')}`);
}

function run(cmd, args, { cwd = ROOT, env = process.env } = {}) {
  log(`$ ${[cmd, ...args].join(' ')}${cwd !== ROOT ? `   (in ${path.relative(ROOT, cwd) || '.'})` : ''}`);
  const r = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error) throw new Error(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status ?? r.signal}`);
}

function readMarker() {
  try {
    return JSON.parse(readFileSync(MARKER, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when a complete install of CODE_SERVER_VERSION for this Node major is in place. */
export function codeServerInstalled() {
  const m = readMarker();
  return Boolean(
    m && m.version === CODE_SERVER_VERSION && m.nodeMajor === process.versions.node.split('.')[0]
      && existsSync(CODE_SERVER_ENTRY) && existsSync(path.join(CODE_SERVER_PACKAGE, 'lib', 'vscode', 'node_modules.asar')),
  );
}

// Two test runs may start at once (integration and e2e): one installs, the other waits.
async function withInstallLock(fn) {
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(LOCK, 'utf8')) || 0;
      let alive = false;
      try {
        if (holder) { process.kill(holder, 0); alive = true; }
      } catch { /* holder is gone: the lock is stale */ }
      if (!alive) { rmSync(LOCK, { force: true }); continue; }
      if (Date.now() > deadline) throw new Error(`timed out waiting for the code-server install lock held by pid ${holder}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

/**
 * Installs code-server offline into .vscode-test/code-server/ (idempotent) and
 * returns the path of its Node entry point (run it with process.execPath).
 */
export async function ensureCodeServer() {
  if (codeServerInstalled()) {
    log(`code-server ${CODE_SERVER_VERSION} already installed in ${path.relative(ROOT, CODE_SERVER_DIR)}`);
    return CODE_SERVER_ENTRY;
  }
  return withInstallLock(async () => {
    if (codeServerInstalled()) return CODE_SERVER_ENTRY; // another process finished it meanwhile
    installCodeServer();
    return CODE_SERVER_ENTRY;
  });
}

function installCodeServer() {
  const started = Date.now();
  installStarted = started;
  log(`installing code-server ${CODE_SERVER_VERSION} into ${path.relative(ROOT, CODE_SERVER_DIR)} (once; ${CODE_SERVER_INSTALL_ESTIMATE}: npm downloads it, then native modules are compiled)`);
  if (existsSync(CODE_SERVER_DIR)) {
    log('found an incomplete or outdated code-server install: removing it and starting over');
    rmSync(CODE_SERVER_DIR, { recursive: true, force: true });
  }
  mkdirSync(CODE_SERVER_DIR, { recursive: true });
  // Its own package.json makes this folder npm's prefix, so nothing lands in the project's node_modules.
  writeFileSync(path.join(CODE_SERVER_DIR, 'package.json'), `${JSON.stringify({ name: 'code-server-cache', private: true }, null, 2)}\n`);
  const npm = 'npm';
  const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];
  const env = { ...process.env, npm_config_yes: 'true', CI: 'true' };

  step(`step 1/7: npm install --ignore-scripts code-server@${CODE_SERVER_VERSION}`);
  run(npm, ['install', '--ignore-scripts', '--no-save', ...quiet, `code-server@${CODE_SERVER_VERSION}`], { cwd: CODE_SERVER_DIR, env });

  const vscodeDir = path.join(CODE_SERVER_PACKAGE, 'lib', 'vscode');
  step('step 2/7: VS Code server dependencies (npm install --omit=dev --ignore-scripts in lib/vscode)');
  run(npm, ['install', '--omit=dev', '--ignore-scripts', ...quiet], { cwd: vscodeDir, env });

  // node-pty's build calls `npx node-gyp`: npm_config_yes answers npx's prompt (no stdin in CI).
  step(`step 3/7: rebuild native modules: ${VSCODE_NATIVE_MODULES.join(' ')}`);
  run(npm, ['rebuild', ...quiet, ...VSCODE_NATIVE_MODULES], { cwd: vscodeDir, env });

  // @vscode/ripgrep's own install script downloads rg from GitHub; use Debian's.
  step('step 4/7: ripgrep from /usr/bin/rg');
  const rgBin = path.join(vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin');
  mkdirSync(rgBin, { recursive: true });
  copyFileSync('/usr/bin/rg', path.join(rgBin, 'rg'));
  chmodSync(path.join(rgBin, 'rg'), 0o755);

  step('step 5/7: node_modules.asar -> node_modules, CLI helper links');
  forceSymlink('node_modules', path.join(vscodeDir, 'node_modules.asar'));
  // What code-server's postinstall.sh also does: the `code` CLI inside the integrated terminal.
  forceSymlink('code-linux.sh', path.join(vscodeDir, 'bin', 'remote-cli', 'code-server'));
  forceSymlink('browser-linux.sh', path.join(vscodeDir, 'bin', 'helpers', 'browser.sh'));

  step('step 6/7: built-in extensions dependencies (npm install --omit=dev --ignore-scripts in lib/vscode/extensions)');
  run(npm, ['install', '--omit=dev', '--ignore-scripts', ...quiet], { cwd: path.join(vscodeDir, 'extensions'), env });

  step('step 7/7: npm rebuild argon2');
  run(npm, ['rebuild', ...quiet, 'argon2'], { cwd: CODE_SERVER_DIR, env });

  verifyInstall(vscodeDir);
  writeFileSync(MARKER, `${JSON.stringify({
    version: CODE_SERVER_VERSION,
    nodeMajor: process.versions.node.split('.')[0],
    installedAt: new Date().toISOString(),
  }, null, 2)}\n`);
  log(`code-server ${CODE_SERVER_VERSION} installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

function forceSymlink(target, linkPath) {
  if (!existsSync(path.dirname(linkPath))) return;
  try {
    lstatSync(linkPath);
    unlinkSync(linkPath);
  } catch { /* nothing there yet */ }
  symlinkSync(target, linkPath);
}

// A native module whose install script did not run loads fine as JS but fails on first use: check they load.
function verifyInstall(vscodeDir) {
  log('verifying native modules load');
  const script = `
    const mods = ${JSON.stringify(['@parcel/watcher', '@vscode/spdlog', 'kerberos', 'native-watchdog', 'node-pty'])};
    for (const m of mods) require(m);
    require(${JSON.stringify(path.join(CODE_SERVER_DIR, 'node_modules', 'argon2'))});
  `;
  try {
    execFileSync(process.execPath, ['-e', script], { cwd: vscodeDir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new Error(`code-server's native modules do not load after the rebuild:\n${err.stderr?.toString() ?? err.message}`);
  }
  if (!existsSync(path.join(vscodeDir, 'node_modules', '@vscode', 'ripgrep', 'bin', 'rg'))) {
    throw new Error('ripgrep binary missing after install');
  }
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  try {
    if (process.argv.includes('--code-server')) {
      ensureDebianPackages(CODE_SERVER_DEBIAN_PACKAGES);
      console.log(await ensureCodeServer());
    } else if (process.argv.includes('--check')) {
      const missing = missingDebianPackages();
      const cs = codeServerInstalled();
      log(`Debian packages missing: ${missing.length ? missing.join(' ') : 'none'}`);
      log(`code-server ${CODE_SERVER_VERSION}: ${cs ? 'installed' : 'not installed'}`);
      process.exitCode = missing.length || !cs ? 1 : 0;
    } else {
      ensureDebianPackages();
      const entry = await ensureCodeServer();
      console.log(entry);
    }
  } catch (err) {
    console.error(`[vscode-offline] ERROR: ${err.message}`);
    process.exitCode = 1;
  }
}
